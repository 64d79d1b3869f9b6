package deploy

// The Dockerfile cannot be built here (no Docker engine), so these tests read
// it: its stages and settings, that its build context holds every file the
// Go build needs, and that its HEALTHCHECK script works against a real pictor.

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, ...
	Args string
	Line int
}

// parseDockerfile splits a Dockerfile into instructions. It knows what this
// repository's Dockerfiles use: comments, parser directives, and backslash
// continuations (comment lines inside a continuation are dropped, as Docker does).
func parseDockerfile(text string) []instruction {
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body)
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(trimmed)
		full := strings.TrimSpace(cur.String())
		cur.Reset()
		if full == "" {
			continue
		}
		cmd, args, _ := strings.Cut(full, " ")
		out = append(out, instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start})
	}
	return out
}

// stage is one FROM and what follows it.
type stage struct {
	From, Name string
	Steps      []instruction
}

func stages(ins []instruction) (args map[string]string, out []stage) {
	args = map[string]string{}
	for _, in := range ins {
		switch {
		case in.Cmd == "ARG" && len(out) == 0:
			k, v, _ := strings.Cut(in.Args, "=")
			args[k] = v
		case in.Cmd == "FROM":
			f := strings.Fields(in.Args)
			s := stage{From: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.Name = f[2]
			}
			out = append(out, s)
		case len(out) > 0:
			out[len(out)-1].Steps = append(out[len(out)-1].Steps, in)
		}
	}
	return args, out
}

// expand replaces ${NAME} with the global ARG defaults.
func expand(s string, args map[string]string) string {
	return regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`).ReplaceAllStringFunc(s, func(m string) string {
		return args[m[2:len(m)-1]]
	})
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.Steps {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

func (s stage) last(cmd string) (instruction, bool) {
	all := s.all(cmd)
	if len(all) == 0 {
		return instruction{}, false
	}
	return all[len(all)-1], true
}

// jsonArgs decodes an exec-form argument list.
func jsonArgs(t *testing.T, in instruction) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.Args), &v); err != nil {
		t.Errorf("line %d %s: got %q, want the JSON (exec) form: %v", in.Line, in.Cmd, in.Args, err)
	}
	return v
}

// goVersion is go.mod's go directive, major.minor.
func goVersion(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(readFile(t, "go.mod"))
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	args, st := stages(parseDockerfile(string(readFile(t, "Dockerfile"))))
	if len(st) != 2 {
		t.Fatalf("stages: got %d, want 2 (build, runtime)", len(st))
	}
	build, runtime := st[0], st[1]

	t.Run("build stage", func(t *testing.T) {
		t.Parallel()
		want := "golang:" + goVersion(t) + "-bookworm"
		if got := expand(build.From, args); got != want {
			t.Errorf("FROM: got %q, want %q (go.mod's Go on Debian 12)", got, want)
		}
		runs := joinArgs(build.all("RUN"))
		for _, want := range []string{"libvips-dev", "CGO_ENABLED=1", "go build", "./cmd/...", "-X main.version="} {
			if !strings.Contains(runs, want) {
				t.Errorf("RUN steps: got %q, want %q among them", runs, want)
			}
		}
	})

	t.Run("runtime stage", func(t *testing.T) {
		t.Parallel()
		if got := expand(runtime.From, args); got != "debian:bookworm-slim" {
			t.Errorf("FROM: got %q, want debian:bookworm-slim", got)
		}
		runs := joinArgs(runtime.all("RUN"))
		if !strings.Contains(runs, "libvips42") || !strings.Contains(runs, "--no-install-recommends") {
			t.Errorf("RUN: got %q, want libvips42 with --no-install-recommends", runs)
		}
		for _, dev := range []string{"libvips-dev", "build-essential", "gcc", "golang"} {
			if strings.Contains(runs, dev) {
				t.Errorf("RUN: got %q, want no %s in the runtime image", runs, dev)
			}
		}
		env := joinArgs(runtime.all("ENV"))
		if regexp.MustCompile(`\bMALLOC_[A-Z_]*=`).MatchString(env) {
			t.Errorf("ENV: got %q, want no MALLOC_* variable (pictor tunes malloc itself; one here would override it)", env)
		}
		user, ok := runtime.last("USER")
		if !ok {
			t.Fatalf("USER: got none, want a non-root user")
		}
		uid, _, _ := strings.Cut(user.Args, ":")
		if n, err := strconv.Atoi(uid); err != nil || n == 0 {
			t.Errorf("USER: got %q, want a numeric non-zero uid (runAsNonRoot checks it)", user.Args)
		}
		if in, ok := runtime.last("EXPOSE"); !ok || !slices.Contains(strings.Fields(in.Args), "8080") {
			t.Errorf("EXPOSE: got %q, want 8080", in.Args)
		}
		if in, ok := runtime.last("VOLUME"); !ok || !strings.Contains(in.Args, "/data") {
			t.Errorf("VOLUME: got %q, want /data", in.Args)
		}
		if in, ok := runtime.last("ENTRYPOINT"); !ok || !slices.Equal(jsonArgs(t, in), []string{"pictor"}) {
			t.Errorf("ENTRYPOINT: got %q, want [\"pictor\"]", in.Args)
		}
		if in, ok := runtime.last("CMD"); !ok || !slices.Equal(jsonArgs(t, in), []string{"serve"}) {
			t.Errorf("CMD: got %q, want [\"serve\"]", in.Args)
		}
		hc, ok := runtime.last("HEALTHCHECK")
		if !ok {
			t.Fatalf("HEALTHCHECK: got none")
		}
		_, hcCmd, ok := strings.Cut(hc.Args, "CMD ")
		if !ok {
			t.Fatalf("HEALTHCHECK: got %q, want a CMD", hc.Args)
		}
		probe := jsonArgs(t, instruction{Cmd: "HEALTHCHECK", Args: strings.TrimSpace(hcCmd), Line: hc.Line})
		// The probe must be a file the image gets from the build context.
		var installed bool
		for _, cp := range runtime.all("COPY") {
			f := strings.Fields(cp.Args)
			if len(probe) > 0 && strings.HasSuffix(f[len(f)-1], "/"+probe[0]) {
				installed = true
			}
		}
		if len(probe) == 0 || !installed {
			t.Errorf("HEALTHCHECK CMD %q: no COPY installs it", probe)
		}
		if !strings.Contains(joinArgs(runtime.all("COPY")), "--from=build /out/") {
			t.Errorf("COPY: got %q, want the binaries copied from the build stage's /out/", joinArgs(runtime.all("COPY")))
		}
	})

	t.Run("copy sources are in the context", func(t *testing.T) {
		t.Parallel()
		root := repoRoot(t)
		ig := loadDockerignore(t)
		for _, s := range st {
			for _, cp := range s.all("COPY") {
				var srcs []string
				fromStage := false
				for _, f := range strings.Fields(cp.Args) {
					if strings.HasPrefix(f, "--from=") {
						fromStage = true
					}
					if !strings.HasPrefix(f, "--") {
						srcs = append(srcs, f)
					}
				}
				if fromStage || len(srcs) < 2 {
					continue
				}
				for _, src := range srcs[:len(srcs)-1] {
					if _, err := os.Stat(filepath.Join(root, src)); err != nil {
						t.Errorf("line %d COPY %s: %v", cp.Line, src, err)
					}
					if src != "." && ig.excluded(src) {
						t.Errorf("line %d COPY %s: .dockerignore excludes it", cp.Line, src)
					}
				}
			}
		}
	})
}

func joinArgs(ins []instruction) string {
	var parts []string
	for _, in := range ins {
		parts = append(parts, in.Args)
	}
	return strings.Join(parts, " ; ")
}

// ---- .dockerignore --------------------------------------------------------------

type ignorePattern struct {
	re      *regexp.Regexp
	negated bool
	raw     string
}

type dockerignore []ignorePattern

// compileIgnore compiles .dockerignore lines with Docker's rules: paths from
// the context root, '*' and '?' within one path element, '**' across any
// number of them, '!' re-includes, the last matching line wins, and a pattern
// that matches a parent directory matches everything under it.
func compileIgnore(text string) (dockerignore, error) {
	var out dockerignore
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := ignorePattern{raw: line}
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			p.negated, line = true, strings.TrimSpace(rest)
		}
		line = strings.TrimPrefix(path.Clean("/"+line), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(line); i++ {
			switch c := line[i]; {
			case c == '*' && i+1 < len(line) && line[i+1] == '*':
				i++
				if i+1 < len(line) && line[i+1] == '/' {
					i++
					re.WriteString("(?:.*/)?")
				} else {
					re.WriteString(".*")
				}
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		compiled, err := regexp.Compile(re.String())
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", p.raw, err)
		}
		p.re = compiled
		out = append(out, p)
	}
	return out, nil
}

// excluded reports whether the build context leaves out rel (slash separated).
func (d dockerignore) excluded(rel string) bool {
	rel = strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(rel)), "/")
	parts := strings.Split(rel, "/")
	matched := false
	for _, p := range d {
		match := p.re.MatchString(rel)
		for i := 1; !match && i < len(parts); i++ {
			match = p.re.MatchString(strings.Join(parts[:i], "/"))
		}
		if match {
			matched = !p.negated
		}
	}
	return matched
}

func loadDockerignore(t *testing.T) dockerignore {
	t.Helper()
	d, err := compileIgnore(string(readFile(t, ".dockerignore")))
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	return d
}

func TestDockerignoreMatcher(t *testing.T) {
	t.Parallel()
	d, err := compileIgnore("# comment\n.git\n**/testdata\n**/*.md\ndeploy\n!deploy/docker/healthcheck.sh\n/bin\n")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want bool
	}{
		{".git/config", true},
		{"bin/pictor", true},
		{"cmd/bin/x.go", false},
		{"imaging/testdata/a.jpg", true},
		{"testdata/a.png", true},
		{"README.md", true},
		{"docs/x/y.md", true},
		{"api/openapi.json", false},
		{"deploy/k8s/api.yaml", true},
		{"deploy/docker/healthcheck.sh", false},
		{"deploy/docker/other.sh", true},
		{"go.mod", false},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			if got := d.excluded(tc.path); got != tc.want {
				t.Errorf("excluded(%q): got %v, want %v", tc.path, got, tc.want)
			}
		})
	}
}

// TestDockerignoreKeepsBuildInputs lists every file `go build ./cmd/...`
// reads from this module (sources, cgo files, embedded files, go.mod, go.sum)
// and fails when .dockerignore would leave one out of the image build.
func TestDockerignoreKeepsBuildInputs(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	ig := loadDockerignore(t)
	out, err := runIn(root, "go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .CgoFiles}} {{.}}{{end}}{{range .CFiles}} {{.}}{{end}}{{range .HFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{"\n"}}{{end}}{{end}}`,
		"./cmd/...")
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	files := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dir, err := filepath.Rel(root, f[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range f[1:] {
			files = append(files, filepath.ToSlash(filepath.Join(dir, name)))
		}
	}
	if len(files) < 20 {
		t.Fatalf("go list found %d build inputs, want the whole of cmd/pictor's dependencies", len(files))
	}
	for _, f := range files {
		if ig.excluded(f) {
			t.Errorf("%s: the build needs it, .dockerignore excludes it", f)
		}
	}
	for _, want := range []string{".git/HEAD", "deploy/k8s/api.yaml", "docs/DESIGN.md"} {
		if !ig.excluded(want) {
			t.Errorf("%s: got it in the build context, want it excluded", want)
		}
	}
}

// ---- the HEALTHCHECK script ---------------------------------------------------

func TestHealthcheckScript(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not found")
	}
	script := filepath.Join(repoRoot(t), "deploy", "docker", "healthcheck.sh")
	s := startPictor(t)
	_, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		t.Fatalf("server address %q: %v", s.Addr, err)
	}
	// A port nobody listens on: bind one, note it, close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name    string
		args    []string
		env     string // PICTOR_ADDR
		wantErr bool
	}{
		{"healthz by argument", []string{"/healthz", s.Addr}, "", false},
		{"readyz", []string{"/readyz", s.Addr}, "", false},
		{"default path and PICTOR_ADDR with a wildcard host", nil, ":" + port, false},
		{"PICTOR_ADDR 0.0.0.0", nil, "0.0.0.0:" + port, false},
		{"PICTOR_ADDR [::]", nil, "[::]:" + port, false},
		// How compose probes the stand-in WebUI.
		{"sdstub progress", []string{"/sdapi/v1/progress?skip_current_image=true", s.SD.Addr}, "", false},
		{"404 is unhealthy", []string{"/no-such-route", s.Addr}, "", true},
		{"nothing listening", []string{"/healthz", closed}, "", true},
		{"no port", []string{"/healthz", "localhost"}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command("bash", append([]string{script}, tc.args...)...)
			cmd.Env = cleanEnv()
			if tc.env != "" {
				cmd.Env = append(cmd.Env, "PICTOR_ADDR="+tc.env)
			}
			out, err := cmd.CombinedOutput()
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Errorf("healthcheck %q (PICTOR_ADDR=%q): got error %v (%s), want error %v", tc.args, tc.env, err, out, tc.wantErr)
			}
		})
	}
}
