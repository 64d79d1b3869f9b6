package console_test

import (
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/pictor/pictor/api/console"
)

// files reads every embedded file by path.
func files(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(console.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(console.FS, p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	return out
}

func TestLayout(t *testing.T) {
	t.Parallel()
	all := files(t)
	for _, want := range []string{"index.html", "css/console.css", "js/app.js", "js/api.js", "js/dom.js", "js/compare.js",
		"js/views/library.js", "js/views/image.js", "js/views/studio.js", "js/views/batches.js", "js/views/batch.js", "js/views/backends.js", "js/views/review.js", "js/views/select.js"} {
		if _, ok := all[want]; !ok {
			t.Errorf("%s: got nothing, want it embedded", want)
		}
	}
}

// TestCSPClean: the console runs under "default-src 'self'", so no page may carry inline
// scripts, inline styles, event-handler attributes or resources from elsewhere.
func TestCSPClean(t *testing.T) {
	t.Parallel()
	htmlBad := []struct {
		name string
		re   *regexp.Regexp
	}{
		{"style element", regexp.MustCompile(`(?i)<style[\s>]`)},
		{"style attribute", regexp.MustCompile(`(?i)\sstyle\s*=`)},
		{"event handler attribute", regexp.MustCompile(`(?i)\son[a-z]+\s*=`)},
		{"javascript: URL", regexp.MustCompile(`(?i)javascript:`)},
		{"remote resource", regexp.MustCompile(`(?i)(?:src|href)\s*=\s*"(?:https?:)?//`)},
	}
	jsBad := []struct {
		name string
		re   *regexp.Regexp
	}{
		{"innerHTML", regexp.MustCompile(`\.(?:inner|outer)HTML\b|insertAdjacentHTML`)},
		{"eval", regexp.MustCompile(`\beval\(|new Function\(`)},
		{"style attribute", regexp.MustCompile(`setAttribute\(\s*['"]style['"]|\bstyle:\s*['"]`)},
		{"remote import", regexp.MustCompile(`(?:from|import)\s*\(?\s*['"](?:https?:)?//`)},
		{"localStorage", regexp.MustCompile(`localStorage|sessionStorage|document\.cookie`)},
	}
	scriptRE := regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`)
	for p, body := range files(t) {
		switch path.Ext(p) {
		case ".html":
			for _, m := range scriptRE.FindAllStringSubmatch(body, -1) {
				if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
					t.Errorf("%s: got script %q, want only <script src=...></script>", p, m[0])
				}
			}
			for _, b := range htmlBad {
				if m := b.re.FindString(body); m != "" {
					t.Errorf("%s: got %s %q, want none (CSP default-src 'self')", p, b.name, m)
				}
			}
		case ".js":
			for _, b := range jsBad {
				if m := b.re.FindString(body); m != "" {
					t.Errorf("%s: got %s %q, want none", p, b.name, m)
				}
			}
		}
	}
}

// TestImportsResolve: every module import and every file the HTML names is embedded.
func TestImportsResolve(t *testing.T) {
	t.Parallel()
	all := files(t)
	importRE := regexp.MustCompile(`(?m)^\s*import\s+(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]`)
	refRE := regexp.MustCompile(`(?:src|href)="([^"#:]+)"`)
	checked := 0
	for p, body := range all {
		var refs []string
		switch path.Ext(p) {
		case ".js":
			for _, m := range importRE.FindAllStringSubmatch(body, -1) {
				if !strings.HasPrefix(m[1], "./") && !strings.HasPrefix(m[1], "../") {
					t.Errorf("%s: import %q: got a bare or absolute specifier, want a relative path", p, m[1])
					continue
				}
				refs = append(refs, m[1])
			}
		case ".html":
			for _, m := range refRE.FindAllStringSubmatch(body, -1) {
				if !strings.HasPrefix(m[1], "/") { // absolute paths are API routes
					refs = append(refs, m[1])
				}
			}
		}
		for _, r := range refs {
			target := path.Join(path.Dir(p), r)
			if _, ok := all[target]; !ok {
				t.Errorf("%s: reference %q: got no file %s, want it embedded", p, r, target)
			}
			checked++
		}
	}
	if checked < 10 {
		t.Errorf("references checked: got %d, want at least 10 (is the pattern still matching?)", checked)
	}
}
