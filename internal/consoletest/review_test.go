package consoletest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/pictor/pictor/auth"
)

// heldRecipe has a background removal (an AI-class step; with no WebUI it runs its classic
// engine) and a product fill the test shots cannot reach, so every output waits for review
// with a failing product_fill check.
const heldRecipe = `{"steps":[{"op":"remove_background"},{"op":"background","color":"#ffffff"},{"op":"resize","width":400,"height":400,"fit":"contain"}],
	"outputs":[{"name":"main","format":"jpeg","checks":{"product_fill_min":0.99}}]}`

// reviewCheck is one check of a review as GET /v1/reviews reports it.
type reviewCheck struct {
	Name      string  `json:"name"`
	Value     float64 `json:"value"`
	Op        string  `json:"op"`
	Threshold float64 `json:"threshold"`
	Verdict   string  `json:"verdict"`
}

// review is one item of GET /v1/reviews (the fields the test reads).
type review struct {
	ID       string `json:"id"`
	ImageID  string `json:"image_id"`
	SKU      string `json:"sku"`
	State    string `json:"state"`
	Reviewer string `json:"reviewer"`
	Reason   string `json:"reason"`
	Checks   struct {
		Results []reviewCheck `json:"results"`
	} `json:"checks"`
	Failed []string `json:"failed"`
}

type reviewList struct {
	Reviews []review `json:"reviews"`
	Total   int      `json:"total"`
}

// send calls the service with the admin key and a body (JSON when contentType is empty).
func (s service) send(t *testing.T, method, path, contentType string, body []byte, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType == "" {
		contentType = "application/json"
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+s.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, path, res.StatusCode, b)
	} else if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return res.StatusCode
}

// upload posts a product shot with a SKU and a named recipe as a multipart form.
func (s service) upload(t *testing.T, sku, recipe string, data []byte, out any) int {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range map[string]string{"sku": sku, "recipe": recipe} {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
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
	return s.send(t, "POST", "/v1/images", mw.FormDataContentType(), buf.Bytes(), out)
}

// reviews lists the queue through the API.
func (s service) reviews(t *testing.T, state string) reviewList {
	t.Helper()
	var l reviewList
	if code := s.api(t, "GET", "/v1/reviews?limit=200&state="+state, &l); code != http.StatusOK {
		t.Fatalf("GET /v1/reviews?state=%s: got %d, want 200 (is the review API in, api/reviews.go?)", state, code)
	}
	return l
}

// shownValue is how the console prints a check's value: at most three decimals.
func shownValue(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

// TestReview walks the review queue: six held renditions with a failing product_fill
// check, approve one with a key, keys ignored while typing, next and previous, reject one
// with a required reason, an API error shown in the page, and approve the rest in one go.
func TestReview(t *testing.T) {
	chromium := browserPath(t)
	root := repoRoot(t)
	pictorBin, _ := build(t, root)

	secret, key, err := auth.NewKey(auth.ScopeAdmin, "designer")
	if err != nil {
		t.Fatal(err)
	}
	env := append(cleanEnv(),
		"PICTOR_DATA_DIR="+t.TempDir(),
		"PICTOR_API_KEYS="+auth.FormatKey(key),
		"PICTOR_LOG_LEVEL=warn",
	)
	svc := service{base: start(t, pictorBin, "pictor listening on ", env, "serve", "-addr", "127.0.0.1:0"), key: secret}
	reviewJourney(t, chromium, root, svc)
}

// reviewJourney is TestReview's walk through a running service whose key is named designer.
func reviewJourney(t *testing.T, chromium, root string, svc service) {

	// Six held renditions.
	if code := svc.send(t, "PUT", "/v1/recipes/held-main", "", []byte(heldRecipe), nil); code >= 300 {
		t.Fatalf("PUT /v1/recipes/held-main: got %d, want 2xx", code)
	}
	const n = 6
	for i := range n {
		var res struct {
			Renditions []struct {
				ID     string `json:"id"`
				Review string `json:"review"`
			} `json:"renditions"`
		}
		sku := fmt.Sprintf("REV-%d", i+1)
		if code := svc.upload(t, sku, "held-main", productShot(t, i), &res); code != http.StatusCreated {
			t.Fatalf("upload %s: got %d, want 201", sku, code)
		}
		if len(res.Renditions) != 1 || res.Renditions[0].Review != "pending" {
			t.Fatalf("upload %s: got renditions %+v, want one with review pending", sku, res.Renditions)
		}
	}
	pending := svc.reviews(t, "pending")
	if pending.Total != n || len(pending.Reviews) != n {
		t.Fatalf("pending reviews: got total %d and %d items, want %d", pending.Total, len(pending.Reviews), n)
	}
	byID := map[string]review{}
	for _, r := range pending.Reviews {
		byID[r.ID] = r
		if len(r.Failed) == 0 || r.Failed[0] != "product_fill" {
			t.Fatalf("review %s failed checks: got %v, want product_fill", r.ID, r.Failed)
		}
	}

	ctx := browser(t, chromium)
	checkConsole := watchConsole(t, ctx)
	shots := newShooter(t, root)

	// current is the review the page shows; count is its "3 of 12".
	current := func(t *testing.T) string {
		t.Helper()
		return eval[string](t, ctx, `document.querySelector('.item').dataset.review || ''`)
	}
	countIs := func(s string) chromedp.Action[chromedp.Void] {
		return poll(fmt.Sprintf(`(() => { const c = document.getElementById('review-count'); return c && c.textContent === %q && !document.querySelector('.item').classList.contains('hidden'); })()`, s))
	}
	// queue reads the ids in the queue, in order.
	queue := func(t *testing.T) []string {
		t.Helper()
		return eval[[]string](t, ctx, `[...document.querySelectorAll('.queue-item')].map((b) => b.dataset.review)`)
	}
	// blur leaves every form control, so keys are shortcuts again.
	blur := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[chromedp.Void](`document.getElementById('item-h').focus()`)(ctx, tg)
		return err
	})

	ok := t.Run("open the queue", func(t *testing.T) {
		step(t, ctx, "sign in",
			chromedp.Navigate(svc.base+"/console/"),
			poll(`document.querySelector('input[name=key]') !== null`),
			chromedp.SendKeys(chromedp.CSS(`input[name=key]`), svc.key),
			chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
			poll(`document.querySelector('h1') && document.querySelector('h1').textContent === 'Library'`))
		step(t, ctx, "open the review view from the navigation",
			chromedp.Click(chromedp.CSS(`nav a[href="#/reviews"]`)),
			poll(`document.querySelector('h1') && document.querySelector('h1').textContent === 'Review'`),
			countIs(fmt.Sprintf("1 of %d", n)),
			poll(`[...document.querySelectorAll('.ba img')].every((i) => i.complete && i.naturalWidth > 0)`))
		if got := queue(t); len(got) != n {
			t.Fatalf("queue: got %d items %v, want %d", len(got), got, n)
		}
		for _, id := range queue(t) {
			if _, ok := byID[id]; !ok {
				t.Errorf("queue item %s: got an id GET /v1/reviews?state=pending does not list", id)
			}
		}
		r := byID[current(t)]
		var fill reviewCheck
		for _, c := range r.Checks.Results {
			if c.Name == "product_fill" {
				fill = c
			}
		}
		row := eval[string](t, ctx, `(() => { const r = document.querySelector('table.checks tr.fail[data-check=product_fill]'); return r ? r.innerText : ''; })()`)
		for _, want := range []string{"product_fill", shownValue(fill.Value), fill.Op + " " + shownValue(fill.Threshold), "fail"} {
			if !strings.Contains(row, want) {
				t.Errorf("failing check row: got %q, want %q in it", row, want)
			}
		}
		if info := eval[string](t, ctx, `document.querySelector('.item').innerText`); !strings.Contains(info, r.SKU) || !strings.Contains(info, "400×400") || !strings.Contains(info, "main") {
			t.Errorf("item: got %q, want SKU %s, output main and size 400×400", info, r.SKU)
		}
		for sel, want := range map[string]string{".ba figure:first-child img": "/v1/images/" + r.ImageID + "/content", ".ba figure:last-child img": "/v1/renditions/" + r.ID + "/content"} {
			if got := eval[string](t, ctx, `document.querySelector('`+sel+`').getAttribute('src')`); got != want {
				t.Errorf("%s src: got %q, want %q", sel, got, want)
			}
		}
		shots.shoot(t, ctx, "review", "")
	})
	if !ok {
		return
	}

	t.Run("focus ring contrast", func(t *testing.T) {
		step(t, ctx, "tab to a control", blur, chromedp.KeyEvent(kb.Tab),
			poll(`document.activeElement && document.activeElement.closest('.item') && document.activeElement.matches(':focus-visible')`))
		// The outline against the nearest opaque background behind the control.
		got := eval[map[string]any](t, ctx, `(() => {
			const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
			const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
				.reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
			const el = document.activeElement;
			const cs = getComputedStyle(el);
			let bg = el.parentElement;
			while (bg && (rgb(getComputedStyle(bg).backgroundColor)[3] === 0 || getComputedStyle(bg).backgroundColor === 'transparent')) bg = bg.parentElement;
			const back = bg ? getComputedStyle(bg).backgroundColor : 'rgb(255, 255, 255)';
			const a = lum(rgb(cs.outlineColor)), b = lum(rgb(back));
			return {style: cs.outlineStyle, width: parseFloat(cs.outlineWidth), color: cs.outlineColor, back,
				ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)};
		})()`)
		if got["style"] == "none" || got["width"].(float64) < 2 || got["ratio"].(float64) < 3 {
			t.Errorf("focus ring: got %v, want a visible outline of 2px or more with contrast 3:1 or more", got)
		}
	})

	var approved, rejected string
	ok = t.Run("approve with a", func(t *testing.T) {
		approved = current(t)
		step(t, ctx, "press a", blur, chromedp.KeyEvent("a"),
			countIs(fmt.Sprintf("1 of %d", n-1)),
			poll(`document.querySelector('.item [role=alert]').className === 'note' && document.querySelector('.item [role=alert]').textContent.startsWith('Approved')`))
		if q := queue(t); len(q) != n-1 || slices.Contains(q, approved) {
			t.Errorf("queue after approving %s: got %v, want %d items without it", approved, q, n-1)
		}
		if got := current(t); got == approved || got == "" {
			t.Errorf("shown after approving: got %q, want the next pending review", got)
		}
		var found bool
		for _, r := range svc.reviews(t, "approved").Reviews {
			if r.ID == approved {
				found = true
				if r.State != "approved" || r.Reviewer != "designer" {
					t.Errorf("approved review: got state %q reviewer %q, want approved by designer", r.State, r.Reviewer)
				}
			}
		}
		if !found {
			t.Errorf("GET /v1/reviews?state=approved: got no %s, want it approved", approved)
		}
	})
	if !ok {
		return
	}

	ok = t.Run("keys off while typing, next and previous", func(t *testing.T) {
		order := queue(t)
		// "a" typed in a field is text; the j after it (which waits for any decision on its
		// way) moves on, so nothing was approved in between.
		step(t, ctx, "type a in the batch filter, then j",
			chromedp.Click(chromedp.CSS(`input[name=batch]`)),
			chromedp.KeyEvent("a"),
			poll(`document.querySelector('input[name=batch]').value === 'a'`),
			setValue(`input[name=batch]`, ""),
			blur, chromedp.KeyEvent("j"),
			countIs(fmt.Sprintf("2 of %d", n-1)))
		if got := svc.reviews(t, "pending").Total; got != n-1 {
			t.Errorf("pending after typing a in a field: got %d, want %d (nothing approved)", got, n-1)
		}
		for _, s := range []struct {
			key   string
			index int
		}{{kb.ArrowRight, 2}, {"k", 1}, {kb.ArrowLeft, 0}, {kb.ArrowLeft, 0}, {"j", 1}, {"k", 0}} {
			step(t, ctx, "press "+s.key, chromedp.KeyEvent(s.key), countIs(fmt.Sprintf("%d of %d", s.index+1, n-1)))
			if got := current(t); got != order[s.index] {
				t.Errorf("after %q: got %s, want queue item %d %s", s.key, got, s.index, order[s.index])
			}
		}
		step(t, ctx, "the Next button", chromedp.Click(chromedp.CSS(`button[data-action=next]`)), countIs(fmt.Sprintf("2 of %d", n-1)))
		step(t, ctx, "the Previous button", chromedp.Click(chromedp.CSS(`button[data-action=previous]`)), countIs(fmt.Sprintf("1 of %d", n-1)))
	})
	if !ok {
		return
	}

	ok = t.Run("reject with r and a reason", func(t *testing.T) {
		rejected = current(t)
		step(t, ctx, "press r: a reason is asked for",
			blur, chromedp.KeyEvent("r"),
			poll(`document.activeElement && document.activeElement.name === 'reason'`))
		step(t, ctx, "an empty reason is refused in the page",
			chromedp.KeyEvent(kb.Enter),
			poll(`document.querySelector('.item [role=alert]').className === 'error' && document.querySelector('.item [role=alert]').textContent.includes('reason') && document.querySelector('input[name=reason]').getAttribute('aria-invalid') === 'true'`),
			countIs(fmt.Sprintf("1 of %d", n-1)))
		step(t, ctx, "type a reason (its a and r are text) and press Enter",
			chromedp.KeyEvent("the label is cut off"),
			poll(`document.querySelector('input[name=reason]').value === 'the label is cut off'`),
			chromedp.KeyEvent(kb.Enter),
			countIs(fmt.Sprintf("1 of %d", n-2)),
			poll(`document.querySelector('form.reject').classList.contains('hidden')`))
		if got := svc.reviews(t, "pending").Total; got != n-2 {
			t.Errorf("pending after one approval and one rejection: got %d, want %d", got, n-2)
		}
		rej := svc.reviews(t, "rejected")
		if len(rej.Reviews) != 1 || rej.Reviews[0].ID != rejected || rej.Reviews[0].Reason != "the label is cut off" || rej.Reviews[0].Reviewer != "designer" {
			t.Errorf("GET /v1/reviews?state=rejected: got %+v, want %s rejected by designer for \"the label is cut off\"", rej.Reviews, rejected)
		}
	})
	if !ok {
		return
	}

	ok = t.Run("an API error is shown", func(t *testing.T) {
		// The shown rendition is purged behind the page's back: deciding it is a 404.
		gone := byID[current(t)]
		if code := svc.api(t, "DELETE", "/v1/images/"+gone.ImageID+"/renditions", nil); code >= 300 {
			t.Fatalf("DELETE /v1/images/%s/renditions: got %d, want 2xx", gone.ImageID, code)
		}
		step(t, ctx, "press a on a purged rendition",
			blur, chromedp.KeyEvent("a"),
			poll(`document.querySelector('.item [role=alert]').className === 'error' && document.querySelector('.item [role=alert]').textContent.length > 0`),
			countIs(fmt.Sprintf("1 of %d", n-2)))
		step(t, ctx, "apply the filter again: the purged one is gone",
			chromedp.Click(chromedp.CSS(`form[role=search] button[type=submit]`)),
			countIs(fmt.Sprintf("1 of %d", n-3)))
		if slices.Contains(queue(t), gone.ID) {
			t.Errorf("queue: got the purged %s, want it gone", gone.ID)
		}
	})
	if !ok {
		return
	}

	t.Run("approve all matching", func(t *testing.T) {
		left := queue(t)
		step(t, ctx, "ask, and see the number",
			chromedp.Click(chromedp.CSS(`button[data-action=bulk]`)),
			poll(fmt.Sprintf(`!document.querySelector('.confirm').classList.contains('hidden') &&
				document.querySelector('.confirm').innerText.includes('Approve all %d reviews') &&
				document.querySelector('button[data-action=bulk-confirm]').textContent === 'Approve %d'`, len(left), len(left))))
		step(t, ctx, "confirm",
			chromedp.Click(chromedp.CSS(`button[data-action=bulk-confirm]`)),
			poll(`!document.querySelector('.empty-queue').classList.contains('hidden') &&
				document.querySelector('.item').classList.contains('hidden') &&
				document.querySelectorAll('.queue-item').length === 0`),
			poll(fmt.Sprintf(`[...document.querySelectorAll('.note')].some((e) => e.textContent === 'Approved %d reviews.')`, len(left))))
		if p := svc.reviews(t, "pending"); p.Total != 0 || len(p.Reviews) != 0 {
			t.Errorf("pending after approving all: got total %d, %d items, want none", p.Total, len(p.Reviews))
		}
		ap := svc.reviews(t, "approved")
		got := map[string]string{}
		for _, r := range ap.Reviews {
			got[r.ID] = r.Reviewer
		}
		for _, id := range append(left, approved) {
			if who, ok := got[id]; !ok || who != "designer" {
				t.Errorf("approved %s: got present %v, reviewer %q, want approved by designer", id, ok, who)
			}
		}
		if ap.Total != len(left)+1 {
			t.Errorf("approved total: got %d, want %d", ap.Total, len(left)+1)
		}
	})

	checkConsole()
	for _, p := range shots.saved {
		t.Logf("screenshot %s", p)
	}
}
