package consoletest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/pictor/pictor/auth"
)

// Waits are bounds on how long a step may take, never assertions about speed.
const (
	stepTimeout  = 45 * time.Second
	startTimeout = 60 * time.Second
)

// browserPath is PICTOR_TEST_CHROMIUM; without it the test skips, or fails when
// PICTOR_TEST_REQUIRE_SERVICES=1.
func browserPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("PICTOR_TEST_CHROMIUM")
	if p == "" {
		if os.Getenv("PICTOR_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("PICTOR_TEST_CHROMIUM is empty and PICTOR_TEST_REQUIRE_SERVICES=1: install chromium (make test does)")
		}
		t.Skip("PICTOR_TEST_CHROMIUM is empty: the console's browser tests need Chromium (make test sets it)")
	}
	return p
}

// repoRoot is the directory of the service's go.mod, the repository root: the tests run in
// internal/consoletest, a module of its own that keeps chromedp out of the service's.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("repo root: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !strings.HasPrefix(string(b), "module github.com/pictor/pictor\n") {
		t.Fatalf("repo root %s holds no go.mod of github.com/pictor/pictor (%v)", root, err)
	}
	return root
}

// build compiles cmd/pictor and cmd/sdstub into a temporary directory.
func build(t *testing.T, root string) (pictor, sdstub string) {
	t.Helper()
	dir := t.TempDir()
	for _, b := range []struct{ out, pkg string }{{"pictor", "./cmd/pictor"}, {"sdstub", "./cmd/sdstub"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return filepath.Join(dir, "pictor"), filepath.Join(dir, "sdstub")
}

// lockedBuffer collects a process's stderr for the failure report.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs a binary that prints "<prefix>http://ADDR" once it listens, and returns the URL.
// It is interrupted when the test ends; its stderr is logged when the test failed.
func start(t *testing.T, bin, prefix string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s stderr (last 4000 bytes):\n%s", filepath.Base(bin), tail(stderr.String(), 4000))
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				select {
				case found <- u:
				default:
				}
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case <-time.After(startTimeout):
		t.Fatalf("%s did not print %q within %v; stderr:\n%s", bin, prefix, startTimeout, tail(stderr.String(), 4000))
	}
	return ""
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// cleanEnv is the process environment without PICTOR_ variables (make test exports some).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PICTOR_") {
			env = append(env, kv)
		}
	}
	return env
}

// productShot is a studio product shot as PNG: a red box with a blue band on white,
// shifted by n so every shot has its own bytes.
func productShot(t *testing.T, n int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 480, 360))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	x := 150 + 7*n
	draw.Draw(img, image.Rect(x, 80, x+180, 290), image.NewUniform(color.RGBA{190, 40, 30, 255}), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(x, 170, x+180, 194), image.NewUniform(color.RGBA{20, 50, 210, 255}), image.Point{}, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// service is a running pictor with its admin key.
type service struct {
	base string
	key  string
}

// api calls the service directly (not through the browser) with the admin key.
func (s service) api(t *testing.T, method, path string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return res.StatusCode
}

// shooter saves screenshots of the viewport.
type shooter struct {
	dir   string
	saved []string
}

func newShooter(t *testing.T, root string) *shooter {
	t.Helper()
	if os.Getenv("PICTOR_UPDATE_SCREENSHOTS") == "1" {
		dir := filepath.Join(root, "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return &shooter{dir: dir}
	}
	return &shooter{dir: t.TempDir()}
}

// shoot captures the viewport scrolled to the element top selects (the page's top when "").
func (s *shooter) shoot(t *testing.T, ctx context.Context, name, top string) {
	t.Helper()
	sel, _ := json.Marshal(top)
	// Scroll, let lazy images settle, then capture.
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](fmt.Sprintf(
		`(document.activeElement && document.activeElement.blur(),
		  %s ? window.scrollTo(0, document.querySelector(%s).getBoundingClientRect().top + window.scrollY - 12) : window.scrollTo(0, 0), true)`, sel, sel)),
		chromedp.Poll[chromedp.Void](
			`[...document.images].every((i) => !i.getAttribute('src') || i.complete)`,
			chromedp.WithPollingTimeout(stepTimeout))); err != nil {
		t.Fatalf("screenshot %s: waiting for images: %v", name, err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if len(png) < 1000 {
		t.Fatalf("screenshot %s: got %d bytes, want an image", name, len(png))
	}
	p := filepath.Join(s.dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	s.saved = append(s.saved, p)
}

// browser starts headless Chromium with a fresh profile and a 1280x800 window.
func browser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return ctx
}

// step bounds one browser step.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		var page string
		if html, herr := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash + '\n' + document.querySelector('main').innerText`)); herr == nil {
			page = html
		}
		t.Fatalf("%s: %v\npage:\n%s", what, err, tail(page, 3000))
	}
}

// poll waits until a JavaScript expression is truthy.
func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(stepTimeout), chromedp.WithPollingInterval(50*time.Millisecond))
}

// setValue sets a form control's value as a person would leave it, with input and change
// events (chromedp.SetValue cannot set an empty value).
func setValue(selector, value string) chromedp.Action[chromedp.Void] {
	sel, _ := json.Marshal(selector)
	val, _ := json.Marshal(value)
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
			const el = document.querySelector(%s);
			el.value = %s;
			el.dispatchEvent(new Event('input', {bubbles: true}));
			el.dispatchEvent(new Event('change', {bubbles: true}));
		})()`, sel, val))(ctx, tg)
		return err
	})
}

// eval reads a value from the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// TestConsole walks a designer's day through the console: sign in with an API key,
// upload a product shot, run a 3-variant scene and watch it reach 100%, compare and
// approve variant 2 and see it as the image's scene rendition, run a batch from a CSV
// with a trial, and look at the backends. Each page is captured.
func TestConsole(t *testing.T) {
	chromium := browserPath(t)
	root := repoRoot(t)
	pictorBin, stubBin := build(t, root)

	// Source images for the batch, on loopback (allowed by PICTOR_FETCH_ALLOWED_NETS).
	sources := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		if _, err := fmt.Sscanf(r.URL.Path, "/shot-%d.png", &n); err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(productShot(t, n))
	}))
	t.Cleanup(sources.Close)

	stub := start(t, stubBin, "sdstub listening on ", cleanEnv(),
		"-addr", "127.0.0.1:0", "-step-latency", "30ms", "-preview-every", "2")
	secret, key, err := auth.NewKey(auth.ScopeAdmin, "designer")
	if err != nil {
		t.Fatal(err)
	}
	env := append(cleanEnv(),
		"PICTOR_DATA_DIR="+t.TempDir(),
		"PICTOR_SD_URLS="+stub,
		"PICTOR_API_KEYS="+auth.FormatKey(key),
		"PICTOR_FETCH_ALLOWED_NETS=127.0.0.1/32",
		"PICTOR_LOG_LEVEL=warn",
	)
	svc := service{base: start(t, pictorBin, "pictor listening on ", env, "serve", "-addr", "127.0.0.1:0"), key: secret}
	if code := svc.api(t, "GET", "/console/", nil); code != http.StatusOK {
		t.Fatalf("GET /console/: got %d, want 200 (is api.Deps.Console wired to console.FS in cmd/pictor/serve.go?)", code)
	}

	ctx := browser(t, chromium)
	checkConsole := watchConsole(t, ctx)
	shots := newShooter(t, root)
	var imageID, sceneID, approvedRendition string

	ok := t.Run("sign in", func(t *testing.T) {
		step(t, ctx, "open the console",
			chromedp.Navigate(svc.base+"/console/"),
			poll(`document.querySelector('input[name=key]') !== null`))
		step(t, ctx, "sign in with a wrong key",
			chromedp.SendKeys(chromedp.CSS(`input[name=key]`), "pk_wrong"),
			chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
			poll(`document.querySelector('.signin .error').textContent.includes('not valid')`))
		step(t, ctx, "sign in with the key",
			setValue(`input[name=key]`, ""),
			chromedp.SendKeys(chromedp.CSS(`input[name=key]`), secret),
			chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
			poll(`document.querySelector('h1') && document.querySelector('h1').textContent === 'Library'`))
		if got := eval[string](t, ctx, `document.getElementById('who').textContent`); !strings.Contains(got, "designer") {
			t.Errorf("signed in as: got %q, want the key's name designer", got)
		}
		// The key is kept nowhere the page can read: the cookie is HttpOnly, storage is empty.
		if got := eval[string](t, ctx, `document.cookie + JSON.stringify(localStorage) + JSON.stringify(sessionStorage)`); strings.Contains(got, secret) || strings.Contains(got, "pictor_session") {
			t.Errorf("readable storage: got %q, want neither the key nor the session", got)
		}
	})
	if !ok {
		return
	}

	ok = t.Run("upload", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "mug.png")
		if err := os.WriteFile(file, productShot(t, 0), 0o644); err != nil {
			t.Fatal(err)
		}
		step(t, ctx, "upload a product shot",
			chromedp.SendKeys(chromedp.CSS(`input[name=sku]`), "MUG-042"),
			chromedp.SetUploadFiles(chromedp.CSS(`input[type=file][name=file]`), []string{file}),
			poll(`location.hash.startsWith('#/images/') && document.querySelector('h1') && document.querySelector('h1').textContent === 'MUG-042'`))
		imageID = strings.TrimPrefix(eval[string](t, ctx, `location.hash`), "#/images/")
		var img struct{ SKU string }
		if code := svc.api(t, "GET", "/v1/images/"+imageID, &img); code != 200 || img.SKU != "MUG-042" {
			t.Fatalf("GET /v1/images/%s: got %d %+v, want 200 with SKU MUG-042", imageID, code, img)
		}
	})
	if !ok {
		return
	}

	ok = t.Run("drop an image", func(t *testing.T) {
		data, _ := json.Marshal(productShot(t, 9)) // a base64 string
		step(t, ctx, "drop a product shot on the library",
			chromedp.Navigate(svc.base+"/console/#/library"),
			poll(`document.querySelector('.drop') !== null`),
			setValue(`input[type=text][name=sku]`, "MUG-043"),
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
					const bytes = Uint8Array.from(atob(%s), (c) => c.charCodeAt(0));
					const dt = new DataTransfer();
					dt.items.add(new File([bytes], 'mug-side.png', {type: 'image/png'}));
					const drop = document.querySelector('.drop');
					drop.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
					drop.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
				})()`, data))(ctx, tg)
				return err
			}),
			poll(`location.hash.startsWith('#/images/') && document.querySelector('h1') && document.querySelector('h1').textContent === 'MUG-043'`))
		step(t, ctx, "back to the first image",
			chromedp.Navigate(svc.base+"/console/#/images/"+imageID),
			poll(`document.querySelector('h1') && document.querySelector('h1').textContent === 'MUG-042'`))
	})
	if !ok {
		return
	}

	ok = t.Run("scene", func(t *testing.T) {
		step(t, ctx, "open the scene studio",
			chromedp.Click(chromedp.CSS(`a[href$="/scene"]`)),
			poll(`document.querySelector('h1') && document.querySelector('h1').textContent === 'Scene studio'`),
			chromedp.SendKeys(chromedp.CSS(`textarea[name=prompt]`), "a sunlit oak table in a Scandinavian kitchen"),
			setValue(`input[name=variants]`, "3"),
			setValue(`input[name=seed]`, "1000"),
			chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
			poll(`location.hash.startsWith('#/scenes/') && document.querySelectorAll('.variant').length === 3`))
		sceneID = strings.TrimPrefix(eval[string](t, ctx, `location.hash`), "#/scenes/")
		// Record every value the progress bar shows, and every live preview, until the end.
		step(t, ctx, "record progress and previews",
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := chromedp.Evaluate[chromedp.Void](`(() => {
					const bar = document.querySelector('progress');
					const pic = document.querySelector('.stage img');
					window.__seen = [bar.value];
					window.__previews = [];
					new MutationObserver(() => window.__seen.push(bar.value)).observe(bar, {attributes: true});
					const rec = () => { if (pic.dataset.src) window.__previews.push(pic.dataset.src); };
					new MutationObserver(rec).observe(pic, {attributes: true, attributeFilter: ['data-src']});
					rec();
				})()`)(ctx, tg)
				return err
			}))
		step(t, ctx, "progress reaches 100% and three variants arrive",
			poll(`document.querySelector('progress').value === 1 &&
				document.querySelector('.progress .pct').textContent === '100%' &&
				document.querySelectorAll('.variant[data-rendition]').length === 3 &&
				document.querySelector('.badge').textContent === 'succeeded'`))
		seen := eval[[]float64](t, ctx, `window.__seen`)
		for i := 1; i < len(seen); i++ {
			if seen[i] < seen[i-1] {
				t.Errorf("progress went back: got %v, want it never to fall", seen)
				break
			}
		}
		if len(seen) < 2 || seen[len(seen)-1] != 1 {
			t.Errorf("progress values seen: got %v, want several ending at 1", seen)
		}
		previews := eval[[]string](t, ctx, `window.__previews`)
		if len(previews) == 0 || !strings.HasPrefix(previews[len(previews)-1], "/v1/scenes/"+sceneID+"/preview") {
			t.Errorf("live previews shown: got %q, want the scene's preview route", previews)
		}
		seeds := eval[[]string](t, ctx, `[...document.querySelectorAll('.variant')].map((v) => v.dataset.seed)`)
		if strings.Join(seeds, ",") != "1000,1001,1002" {
			t.Errorf("variant seeds: got %v, want 1000, 1001, 1002 (seed + index)", seeds)
		}
		// Scene variants come from an AI recipe, so each card shows its check report's line.
		lines := eval[[]string](t, ctx, `[...document.querySelectorAll('.variant')].map((v) => {
			const l = v.querySelector('.checks-line .verdict');
			return l ? l.closest('.checks-line').dataset.checks + ' ' + l.textContent : '';
		})`)
		if len(lines) != 3 {
			t.Errorf("variant checks lines: got %d, want 3", len(lines))
		}
		for i, l := range lines {
			if !strings.HasPrefix(l, "pass checks pass") && !strings.HasPrefix(l, "fail checks fail: ") {
				t.Errorf("variant %d checks line: got %q, want \"checks pass\" or \"checks fail: …\"", i+1, l)
			}
		}

		// Compare variant 2 with the original, by keyboard.
		step(t, ctx, "compare variant 2",
			chromedp.Click(chromedp.CSS(`button[aria-label="Compare variant 2 with the original"]`)),
			poll(`document.activeElement && document.activeElement.type === 'range'`),
			chromedp.KeyEvent(kb.ArrowRight),
			poll(`document.activeElement.value === '51' && document.querySelector('.compare img.after').style.clipPath === 'inset(0px 0px 0px 51%)'`))
		if got := eval[string](t, ctx, `document.querySelector('.compare img.after').getAttribute('src')`); !strings.Contains(got, eval[string](t, ctx, `document.querySelector('.variant[data-index="1"]').dataset.rendition`)) {
			t.Errorf("compare shows %q, want variant 2's rendition", got)
		}
		shots.shoot(t, ctx, "scene-studio", ".cols")

		step(t, ctx, "re-run with variant 2's seed fills the form",
			chromedp.Click(chromedp.CSS(`button[aria-label="Run again with variant 2's seed"]`)),
			poll(`document.querySelector('input[name=seed]').value === '1001' && document.querySelector('input[name=variants]').value === '1'`))

		approvedRendition = eval[string](t, ctx, `document.querySelector('.variant[data-index="1"]').dataset.rendition`)
		step(t, ctx, "approve variant 2",
			chromedp.Click(chromedp.CSS(`button[aria-label="Approve variant 2"]`)),
			poll(`document.querySelector('.variant[data-index="1"]').classList.contains('approved') &&
				[...document.querySelectorAll('.note')].some((n) => n.textContent.includes('Variant 2 is now'))`))
	})
	if !ok {
		return
	}

	ok = t.Run("image shows the scene rendition", func(t *testing.T) {
		var img struct {
			SceneRenditionID string `json:"scene_rendition_id"`
		}
		if svc.api(t, "GET", "/v1/images/"+imageID, &img); img.SceneRenditionID != approvedRendition {
			t.Fatalf("image scene_rendition_id: got %q, want variant 2's %q", img.SceneRenditionID, approvedRendition)
		}
		step(t, ctx, "open the image page",
			chromedp.Navigate(svc.base+"/console/#/images/"+imageID),
			poll(`document.getElementById('scene-rendition-id') !== null`))
		if got := eval[string](t, ctx, `document.getElementById('scene-rendition-id').textContent`); got != approvedRendition {
			t.Errorf("scene rendition on the page: got %q, want %q", got, approvedRendition)
		}
		if n := eval[int](t, ctx, `document.querySelectorAll('.card.scene-mark').length`); n != 1 {
			t.Errorf("renditions marked as the scene: got %d, want 1", n)
		}
		lineage := eval[string](t, ctx, `document.querySelector('.card.scene-mark').innerText`)
		for _, want := range []string{"1001", "a sunlit oak table"} {
			if !strings.Contains(lineage, want) {
				t.Errorf("scene rendition card: got %q, want its lineage with %q", lineage, want)
			}
		}
		shots.shoot(t, ctx, "image", "")
	})
	if !ok {
		return
	}

	t.Run("batch", func(t *testing.T) {
		if code := svc.api(t, "GET", "/v1/batches", nil); code != http.StatusOK {
			t.Fatalf("GET /v1/batches: got %d, want 200 (the console's batch pages need it)", code)
		}
		var csv strings.Builder
		csv.WriteString("url,sku\n")
		for i := 1; i <= 6; i++ {
			fmt.Fprintf(&csv, "%s/shot-%d.png,BATCH-%d\n", sources.URL, i, i)
		}
		manifest := filepath.Join(t.TempDir(), "spring.csv")
		if err := os.WriteFile(manifest, []byte(csv.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		recipe := `{"steps":[{"op":"resize","width":320,"height":320,"fit":"contain"}],"outputs":[{"name":"main","format":"webp","quality":80}]}`
		step(t, ctx, "create a batch from a CSV",
			chromedp.Navigate(svc.base+"/console/#/batches"),
			poll(`document.querySelector('h1') && document.querySelector('h1').textContent === 'Batches' && document.querySelector('input[name=manifest]') !== null`),
			chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "spring refresh"),
			chromedp.SetUploadFiles(chromedp.CSS(`input[name=manifest]`), []string{manifest}),
			setValue(`textarea[name=recipe]`, recipe),
			chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
			poll(`location.hash.startsWith('#/batches/') && document.querySelector('h1') && document.querySelector('h1').textContent === 'spring refresh'`))
		batchID := strings.TrimPrefix(eval[string](t, ctx, `location.hash`), "#/batches/")
		step(t, ctx, "run a trial",
			setValue(`input[name=sample]`, "3"),
			chromedp.Click(chromedp.CSS(`button[data-action=trial]`)),
			poll(`document.querySelectorAll('.samples > li').length === 3 &&
				document.querySelectorAll('.samples .compare').length >= 1 &&
				!document.querySelector('button[data-action=start]').disabled`))
		if got := eval[string](t, ctx, `document.querySelector('[aria-labelledby=est-h]').innerText`); !strings.Contains(got, "Items to process") {
			t.Errorf("cost estimate: got %q, want the estimate after the trial", got)
		}
		shots.shoot(t, ctx, "batch", "")
		step(t, ctx, "start the batch and see it finish",
			chromedp.Click(chromedp.CSS(`button[data-action=start]`)),
			poll(`document.querySelector('.spread .badge').textContent === 'done' &&
				document.querySelector('progress').value === 1`))
		var b struct {
			State  string
			Counts map[string]int
		}
		if svc.api(t, "GET", "/v1/batches/"+batchID, &b); b.State != "done" || b.Counts["succeeded"] != 6 {
			t.Errorf("batch: got %+v, want done with 6 succeeded", b)
		}
		step(t, ctx, "see it in the list",
			chromedp.Navigate(svc.base+"/console/#/batches"),
			poll(`[...document.querySelectorAll('tr[data-batch]')].some((r) => r.innerText.includes('done') && r.querySelector('progress').value === 1)`))
		shots.shoot(t, ctx, "batches", "")
	})

	t.Run("backends", func(t *testing.T) {
		step(t, ctx, "open the backends page",
			chromedp.Navigate(svc.base+"/console/#/backends"),
			poll(`document.querySelectorAll('tr[data-backend] .badge.healthy').length === 1`))
		shots.shoot(t, ctx, "backends", "")
	})

	t.Run("library", func(t *testing.T) {
		step(t, ctx, "open the library with thumbnails",
			chromedp.Navigate(svc.base+"/console/#/library"),
			poll(`document.querySelectorAll('.grid .card').length === 8 &&
				[...document.querySelectorAll('.grid img')].every((i) => i.complete && i.naturalWidth > 0)`))
		src := eval[string](t, ctx, `document.querySelector('.grid a[href="#/images/`+imageID+`"] img').getAttribute('src')`)
		if !strings.HasPrefix(src, "/v1/renditions/") {
			t.Errorf("thumbnail: got %q, want a rendition", src)
		}
		step(t, ctx, "filter by SKU",
			chromedp.SendKeys(chromedp.CSS(`input[type=search]`), "MUG-042"),
			chromedp.Click(chromedp.CSS(`form[role=search] button`)),
			poll(`document.querySelectorAll('.grid .card').length === 1`))
		step(t, ctx, "clear the filter",
			setValue(`input[type=search]`, ""),
			chromedp.Click(chromedp.CSS(`form[role=search] button`)),
			poll(`document.querySelectorAll('.grid .card').length === 8 &&
				[...document.querySelectorAll('.grid img')].every((i) => i.complete && i.naturalWidth > 0)`))
		shots.shoot(t, ctx, "library", "")
	})

	t.Run("sign out", func(t *testing.T) {
		step(t, ctx, "sign out",
			chromedp.Click(chromedp.CSS(`#who button`)),
			poll(`document.querySelector('input[name=key]') !== null`))
		// The cookie is gone: the API refuses the next call from the page.
		status := eval[int](t, ctx, `(async () => (await fetch('/v1/images')).status)()`)
		if status != http.StatusUnauthorized {
			t.Errorf("GET /v1/images after sign-out: got %d, want 401", status)
		}
	})

	checkConsole()
	for _, p := range shots.saved {
		t.Logf("screenshot %s", p)
	}
}

// watchConsole records the browser console's messages; the func it returns stops that and
// fails the test for every exception or error that is not a network error.
func watchConsole(t *testing.T, ctx context.Context) (check func()) {
	t.Helper()
	var (
		mu   sync.Mutex
		msgs []chromedp.ConsoleMessage
	)
	cctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	messages := chromedp.Console(cctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			msgs = append(msgs, m)
			mu.Unlock()
		}
	}()
	return func() {
		t.Helper()
		stop()
		mu.Lock()
		defer mu.Unlock()
		t.Logf("browser console: %d messages", len(msgs))
		for _, m := range msgs {
			t.Logf("console %s (source %q)", m, m.Source)
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source != "network") {
				t.Errorf("browser console: got %s (%s:%d), want no errors", m, m.URL, m.Line)
			}
		}
	}
}
