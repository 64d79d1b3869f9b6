package consoletest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pictor/pictor/auth"
)

// webRecipe is a classic recipe (no AI step): its batches need no trial to start.
const webRecipe = `{"steps":[{"op":"resize","width":240,"height":240,"fit":"contain"}],"outputs":[{"name":"web","format":"webp","quality":80}]}`

// ingest uploads a product shot with a SKU and no recipe, and returns the image id.
func (s service) ingest(t *testing.T, sku string, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("sku", sku); err != nil {
		t.Fatal(err)
	}
	fw, err := mw.CreateFormFile("file", strings.ToLower(sku)+".png")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Image struct {
			ID string `json:"id"`
		} `json:"image"`
	}
	if code := s.send(t, "POST", "/v1/images", mw.FormDataContentType(), buf.Bytes(), &res); code != http.StatusCreated || res.Image.ID == "" {
		t.Fatalf("upload %s: got %d %+v, want 201 with an image", sku, code, res)
	}
	return res.Image.ID
}

// campaignBatch is GET /v1/batches/{id} (the fields the test reads).
type campaignBatch struct {
	ID          string                     `json:"id"`
	Name        string                     `json:"name"`
	State       string                     `json:"state"`
	Total       int                        `json:"total"`
	Counts      map[string]int             `json:"counts"`
	Selection   map[string]json.RawMessage `json:"selection"`
	FromScene   string                     `json:"from_scene"`
	StartAt     *time.Time                 `json:"start_at"`
	Schedule    string                     `json:"schedule"`
	ManifestURL string                     `json:"manifest_url"`
	NextRun     *time.Time                 `json:"next_run"`
	Columns     []string                   `json:"columns"`
	Review      string                     `json:"review"`
}

func (s service) batch(t *testing.T, id string) campaignBatch {
	t.Helper()
	var b campaignBatch
	if code := s.api(t, "GET", "/v1/batches/"+id, &b); code != http.StatusOK {
		t.Fatalf("GET /v1/batches/%s: got %d, want 200", id, code)
	}
	return b
}

// TestCampaign walks the catalog campaigns in the console: the selection builder's live
// count follows a metadata condition and makes a batch of exactly that selection; a bad
// range shows the service's 400; a delayed start from the batch page sets start_at; the
// XLSX results link serves a workbook; an approved scene is applied to a selection as a
// batch with from_scene that offers the trial; and a manifest URL with a schedule and a
// delayed start is made from the batches page.
func TestCampaign(t *testing.T) {
	chromium := browserPath(t)
	root := repoRoot(t)
	pictorBin, stubBin := build(t, root)

	// A manifest to read by URL, on loopback (allowed by PICTOR_FETCH_ALLOWED_NETS).
	var sourcesURL string
	sources := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		if r.URL.Path == "/catalog.csv" {
			w.Header().Set("Content-Type", "text/csv")
			fmt.Fprintf(w, "url,sku,title\n%s/shot-11.png,CUP-1,espresso cup\n%s/shot-12.png,CUP-2,tea cup\n", sourcesURL, sourcesURL)
			return
		}
		if _, err := fmt.Sscanf(r.URL.Path, "/shot-%d.png", &n); err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(productShot(t, n))
	}))
	t.Cleanup(sources.Close)
	sourcesURL = sources.URL

	stub := start(t, stubBin, "sdstub listening on ", cleanEnv(),
		"-addr", "127.0.0.1:0", "-step-latency", "20ms", "-preview-every", "2")
	secret, key, err := auth.NewKey(auth.ScopeAdmin, "merchandiser")
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

	// The catalog: three mugs and two plates, with metadata set through the API.
	if code := svc.send(t, "PUT", "/v1/recipes/web-small", "", []byte(webRecipe), nil); code >= 300 {
		t.Fatalf("PUT /v1/recipes/web-small: got %d, want 2xx", code)
	}
	ids := map[string]string{}
	for i, p := range []struct{ sku, category, price string }{
		{"MUG-1", "mugs", "12"}, {"MUG-2", "mugs", "18"}, {"MUG-3", "mugs", "40"}, {"PLATE-1", "plates", "25"}, {"PLATE-2", "plates", "9"},
	} {
		id := svc.ingest(t, p.sku, productShot(t, i))
		ids[p.sku] = id
		body, _ := json.Marshal(map[string]string{"category": p.category, "price": p.price})
		var img struct {
			Meta map[string]string `json:"meta"`
		}
		if code := svc.send(t, "PATCH", "/v1/images/"+id+"/meta", "", body, &img); code != http.StatusOK || img.Meta["category"] != p.category {
			t.Fatalf("PATCH /v1/images/%s/meta: got %d %v, want 200 with category %s", id, code, img.Meta, p.category)
		}
	}

	ctx := browser(t, chromium)
	checkConsole := watchConsole(t, ctx)
	shots := newShooter(t, root)

	// countIs waits for the builder's settled count.
	countIs := func(n int) chromedp.Action[chromedp.Void] {
		return poll(fmt.Sprintf(`(() => { const c = document.getElementById('sel-count');
			return c && c.dataset.count === '%d' && !c.classList.contains('stale') && document.querySelectorAll('.grid.sample > li').length === %d; })()`, n, min(n, 12)))
	}

	ok := t.Run("sign in", func(t *testing.T) {
		step(t, ctx, "sign in",
			chromedp.Navigate(svc.base+"/console/"),
			poll(`document.querySelector('input[name=key]') !== null`),
			chromedp.SendKeys(chromedp.CSS(`input[name=key]`), secret),
			chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
			poll(`document.querySelector('h1') && document.querySelector('h1').textContent === 'Library'`))
	})
	if !ok {
		return
	}

	var selBatch string
	ok = t.Run("selection builder", func(t *testing.T) {
		step(t, ctx, "open Select products from the navigation",
			chromedp.Click(chromedp.CSS(`nav a[href="#/select"]`)),
			poll(`document.querySelector('h1') && document.querySelector('h1').textContent === 'Select products'`),
			countIs(5))
		if got := eval[string](t, ctx, `document.querySelector('nav a[aria-current=page]').getAttribute('href')`); got != "#/select" {
			t.Errorf("current section: got %q, want #/select", got)
		}
		step(t, ctx, "category = mugs: the count follows",
			setValue(`input[name=meta_key]`, "category"),
			setValue(`input[name=meta_value]`, "mugs"),
			countIs(3))
		skus := eval[[]string](t, ctx, `[...document.querySelectorAll('.grid.sample > li b')].map((b) => b.textContent).sort()`)
		if strings.Join(skus, ",") != "MUG-1,MUG-2,MUG-3" {
			t.Errorf("sample: got %v, want the three mugs", skus)
		}
		if got := eval[string](t, ctx, `document.getElementById('sel-count').textContent`); got != "3 product images match" {
			t.Errorf("count line: got %q, want \"3 product images match\"", got)
		}
		src := eval[string](t, ctx, `document.querySelector('.grid.sample img').getAttribute('src')`)
		if !strings.HasPrefix(src, "/v1/images/") || !strings.HasSuffix(src, "/content") {
			t.Errorf("sample thumbnail: got %q, want the image's content route", src)
		}

		step(t, ctx, "a second metadata row is added with focus on its key, then removed",
			chromedp.Click(chromedp.CSS(`button[data-action=add-meta]`)),
			poll(`document.querySelectorAll('.meta-row').length === 2 && document.activeElement === document.querySelectorAll('input[name=meta_key]')[1]`),
			chromedp.Click(chromedp.CSS(`button[aria-label="Remove metadata condition 2"]`)),
			poll(`document.querySelectorAll('.meta-row').length === 1`),
			countIs(3))

		step(t, ctx, "a range from 50 to 10 shows the service's 400",
			setValue(`input[name=meta_range_key]`, "price"),
			setValue(`input[name=meta_range_min]`, "50"),
			setValue(`input[name=meta_range_max]`, "10"),
			poll(`document.getElementById('sel-error').className === 'error' && document.getElementById('sel-error').textContent.includes('price') &&
				document.getElementById('sel-count').dataset.count === ''`))
		step(t, ctx, "price 10 to 20 among the mugs",
			setValue(`input[name=meta_range_min]`, "10"),
			setValue(`input[name=meta_range_max]`, "20"),
			countIs(2))
		if got := eval[string](t, ctx, `document.getElementById('sel-error').textContent`); got != "" {
			t.Errorf("error slot after a good selection: got %q, want it empty", got)
		}
		step(t, ctx, "no price range again",
			setValue(`input[name=meta_range_key]`, ""), setValue(`input[name=meta_range_min]`, ""), setValue(`input[name=meta_range_max]`, ""),
			countIs(3))
		shots.shoot(t, ctx, "selection", "")

		step(t, ctx, "create a batch of the selection with a recipe",
			setValue(`input[name=name]`, "mugs for the web"),
			setValue(`select[name=recipe]`, "web-small"),
			chromedp.Click(chromedp.CSS(`[aria-labelledby=mk-h] button[type=submit]`)),
			poll(`location.hash.startsWith('#/batches/') && document.querySelector('h1') && document.querySelector('h1').textContent === 'mugs for the web'`))
		selBatch = strings.TrimPrefix(eval[string](t, ctx, `location.hash`), "#/batches/")
		b := svc.batch(t, selBatch)
		if b.Total != 3 {
			t.Errorf("batch total: got %d, want 3 (the mugs)", b.Total)
		}
		var meta map[string][]string
		if err := json.Unmarshal(b.Selection["meta"], &meta); err != nil || len(b.Selection) != 1 || !slices.Equal(meta["category"], []string{"mugs"}) || len(meta) != 1 {
			t.Errorf("batch selection: got %v (%v), want exactly {\"meta\":{\"category\":[\"mugs\"]}}", b.Selection, err)
		}
		if got := eval[string](t, ctx, `(document.querySelector('[data-role=selection]') || {}).textContent || ''`); got != "category = mugs" {
			t.Errorf("batch page selection: got %q, want \"category = mugs\"", got)
		}
	})
	if !ok {
		return
	}

	ok = t.Run("start later", func(t *testing.T) {
		// Two hours from now, as the page's own clock and zone say it.
		want := eval[string](t, ctx, `(() => {
			const d = new Date(Date.now() + 2 * 3600e3);
			const p = (n) => String(n).padStart(2, '0');
			const v = d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes());
			const el = document.querySelector('input[name=start_at]');
			el.value = v;
			el.dispatchEvent(new Event('change', {bubbles: true}));
			return new Date(v).toISOString();
		})()`)
		step(t, ctx, "start later",
			chromedp.Click(chromedp.CSS(`button[data-action=start-later]`)),
			poll(`document.querySelector('[data-role=start-at]') !== null && document.querySelector('[data-role=start-at]').textContent.startsWith('starts at ') &&
				[...document.querySelectorAll('.note')].some((n) => n.textContent.startsWith('Starts at '))`))
		wantAt, err := time.Parse(time.RFC3339, want)
		if err != nil {
			t.Fatalf("the page's time %q: %v", want, err)
		}
		b := svc.batch(t, selBatch)
		if b.StartAt == nil || !b.StartAt.Equal(wantAt) {
			t.Errorf("start_at: got %v, want %v", b.StartAt, wantAt)
		}
		if b.State != "draft" && b.State != "ready" {
			t.Errorf("state after a delayed start: got %q, want it not started yet", b.State)
		}
	})
	if !ok {
		return
	}

	ok = t.Run("xlsx results", func(t *testing.T) {
		step(t, ctx, "start now and see it finish",
			chromedp.Click(chromedp.CSS(`button[data-action=start]`)),
			poll(`document.querySelector('.spread .badge').textContent === 'done' && document.querySelector('progress').value === 1`))
		if b := svc.batch(t, selBatch); b.State != "done" || b.Counts["succeeded"] != 3 {
			t.Errorf("batch: got %s with %v, want done with 3 succeeded", b.State, b.Counts)
		}
		href := eval[string](t, ctx, `document.querySelector('a[data-format=xlsx]').getAttribute('href')`)
		if want := "/v1/batches/" + selBatch + "/results?format=xlsx"; href != want {
			t.Errorf("XLSX link: got %q, want %q", href, want)
		}
		if got := eval[string](t, ctx, `document.querySelector('a[data-format=xlsx]').getAttribute('download')`); !strings.HasSuffix(got, ".xlsx") {
			t.Errorf("XLSX link download name: got %q, want *.xlsx", got)
		}
		// What the link downloads, fetched by the page with its session cookie.
		got := eval[map[string]any](t, ctx, `(async () => {
			const res = await fetch(document.querySelector('a[data-format=xlsx]').href);
			const b = new Uint8Array(await res.arrayBuffer());
			return {status: res.status, type: res.headers.get('Content-Type'), head: String.fromCharCode(b[0], b[1]), size: b.length};
		})()`)
		if got["status"] != float64(200) || got["type"] != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" || got["head"] != "PK" {
			t.Errorf("XLSX download: got %v, want 200, the spreadsheet type and a zip (PK)", got)
		}
		// And the same link in Go with the key: a workbook.
		req, _ := http.NewRequest("GET", svc.base+href, nil)
		req.Header.Set("Authorization", "Bearer "+svc.key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !bytes.HasPrefix(body, []byte("PK\x03\x04")) {
			t.Errorf("GET %s: got %d starting %q, want 200 and a zip", href, res.StatusCode, body[:min(len(body), 8)])
		}
	})
	if !ok {
		return
	}

	ok = t.Run("bulk scene", func(t *testing.T) {
		var sc struct {
			ID string `json:"id"`
		}
		if code := svc.send(t, "POST", "/v1/images/"+ids["MUG-1"]+"/scenes", "",
			[]byte(`{"prompt": "a mug on a sunlit oak table", "variants": 2, "seed": 500}`), &sc); code != http.StatusAccepted {
			t.Fatalf("POST scene: got %d, want 202", code)
		}
		step(t, ctx, "open the scene and wait for its variants",
			chromedp.Navigate(svc.base+"/console/#/scenes/"+sc.ID),
			poll(`document.querySelectorAll('.variant[data-rendition]').length === 2 && document.querySelector('.run .badge').textContent === 'succeeded'`))
		if hidden := eval[bool](t, ctx, `document.querySelector('a[data-action=apply]').classList.contains('hidden')`); !hidden {
			t.Errorf("Apply to products before approval: got it shown, want it hidden")
		}
		step(t, ctx, "approve variant 2: Apply to products is offered",
			chromedp.Click(chromedp.CSS(`button[aria-label="Approve variant 2"]`)),
			poll(`!document.querySelector('a[data-action=apply]').classList.contains('hidden')`))
		step(t, ctx, "apply to products: the builder carries the scene",
			chromedp.Click(chromedp.CSS(`a[data-action=apply]`)),
			poll(`location.hash === '#/select?scene=`+sc.ID+`' && document.querySelector('h1') && document.querySelector('h1').textContent === 'Apply a scene to products' &&
				document.querySelector('.scene-source[data-scene="`+sc.ID+`"]') !== null`),
			countIs(5))
		if n := eval[int](t, ctx, `document.querySelectorAll('select[name=recipe]').length`); n != 0 {
			t.Errorf("recipe fields when applying a scene: got %d, want none", n)
		}
		step(t, ctx, "SKU prefix MUG-",
			setValue(`input[name=sku_prefix]`, "MUG-"),
			countIs(3),
			poll(`[...document.querySelectorAll('.scene-source img')].every((i) => i.complete && i.naturalWidth > 0)`))
		shots.shoot(t, ctx, "bulk-scene", "")
		step(t, ctx, "create the batch from the scene",
			setValue(`input[name=name]`, "kitchen mugs"),
			chromedp.Click(chromedp.CSS(`[aria-labelledby=mk-h] button[type=submit]`)),
			poll(`location.hash.startsWith('#/batches/') && document.querySelector('h1') && document.querySelector('h1').textContent === 'kitchen mugs'`))
		id := strings.TrimPrefix(eval[string](t, ctx, `location.hash`), "#/batches/")
		b := svc.batch(t, id)
		if b.FromScene != sc.ID || b.Total != 3 {
			t.Errorf("scene batch: got from_scene %q total %d, want %s and 3", b.FromScene, b.Total, sc.ID)
		}
		if got := eval[string](t, ctx, `(document.querySelector('[data-role=from-scene]') || {}).textContent || ''`); got != sc.ID {
			t.Errorf("batch page from scene: got %q, want %s", got, sc.ID)
		}
		step(t, ctx, "the batch offers the trial: run it",
			setValue(`input[name=sample]`, "2"),
			chromedp.Click(chromedp.CSS(`button[data-action=trial]`)),
			poll(`document.querySelector('[data-role=trial-report]') !== null && document.querySelectorAll('.samples > li').length === 2 &&
				document.querySelectorAll('.samples .compare').length >= 1`))
		shots.shoot(t, ctx, "batch-campaign", "")
	})
	if !ok {
		return
	}

	t.Run("manifest URL with a schedule", func(t *testing.T) {
		step(t, ctx, "open the batches page",
			chromedp.Navigate(svc.base+"/console/#/batches"),
			poll(`document.querySelector('h1') && document.querySelector('h1').textContent === 'Batches' && document.querySelector('input[name=manifest_url]') !== null`))
		at := eval[string](t, ctx, `(() => {
			const d = new Date(Date.now() + 3 * 3600e3);
			const p = (n) => String(n).padStart(2, '0');
			const v = d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes());
			document.querySelector('input[name=start_at]').value = v;
			return new Date(v).toISOString();
		})()`)
		step(t, ctx, "read a manifest by URL every morning, starting later",
			chromedp.Click(chromedp.CSS(`input[type=radio][value=url]`)),
			poll(`document.querySelector('input[name=manifest_url]').offsetParent !== null && !document.querySelector('input[name=manifest]').required`),
			setValue(`input[name=name]`, "cups every morning"),
			setValue(`input[name=manifest_url]`, sources.URL+"/catalog.csv"),
			setValue(`input[name=schedule]`, "0 6 * * *"),
			setValue(`textarea[name=recipe]`, "web-small"),
			chromedp.Click(chromedp.CSS(`[aria-labelledby=new-h] button[type=submit]`)),
			poll(`location.hash.startsWith('#/batches/') && document.querySelector('h1') && document.querySelector('h1').textContent === 'cups every morning' &&
				document.querySelector('[data-role=schedule]') !== null && document.querySelector('[data-role=start-at]') !== null`))
		id := strings.TrimPrefix(eval[string](t, ctx, `location.hash`), "#/batches/")
		b := svc.batch(t, id)
		wantAt, _ := time.Parse(time.RFC3339, at)
		if b.Schedule != "0 6 * * *" || b.ManifestURL != sources.URL+"/catalog.csv" || b.NextRun == nil || b.Total != 2 ||
			b.StartAt == nil || !b.StartAt.Equal(wantAt) || !slices.Contains(b.Columns, "title") {
			t.Errorf("batch: got %+v, want schedule 0 6 * * *, the manifest URL, a next run, 2 items, start_at %s and column title", b, at)
		}
		if got := eval[string](t, ctx, `document.querySelector('[data-role=columns]').textContent`); got != "title" {
			t.Errorf("columns on the page: got %q, want title", got)
		}
	})

	checkConsole()
	for _, p := range shots.saved {
		t.Logf("screenshot %s", p)
	}
}
