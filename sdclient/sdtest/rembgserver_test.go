package sdtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// rembgServer starts a stand-in rembg server.
func rembgServer(t *testing.T, edit func(*Options)) *Server {
	t.Helper()
	o := fastOptions()
	o.RembgServer = true
	if edit != nil {
		edit(&o)
	}
	return setup(t, o)
}

// multipartBody builds a form: fields in order, and the picture as the part
// fileField (none when fileField is "").
func multipartBody(t *testing.T, fields [][2]string, fileField string, pic []byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	if fileField != "" {
		fw, err := mw.CreateFormFile(fileField, "in.png")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(pic)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}

func pngBytes(t *testing.T, img image.Image) []byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(pngB64(t, img))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// issues decodes a FastAPI 422 body into (type, loc) pairs.
func issues(t *testing.T, r response) [][2]string {
	t.Helper()
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("got %d %s, want 422", r.status, r.body)
	}
	var body struct {
		Detail []struct {
			Type string   `json:"type"`
			Loc  []string `json:"loc"`
			Msg  string   `json:"msg"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("422 body %s: %v", r.body, err)
	}
	var out [][2]string
	for _, d := range body.Detail {
		if d.Msg == "" {
			t.Errorf("issue %v has no msg", d)
		}
		out = append(out, [2]string{d.Type, strings.Join(d.Loc, ".")})
	}
	return out
}

// TestRembgServerStandIn checks the stand-in against rembg 2.0.77's `rembg s`: the
// answers, status codes and body shapes of POST and GET /api/remove.
func TestRembgServerStandIn(t *testing.T) {
	t.Parallel()
	s := rembgServer(t, nil)
	const w, h = 60, 50
	prod := image.Rect(20, 10, 40, 40)
	pic := pngBytes(t, product(w, h, prod))
	form := func(fields [][2]string, file string) response {
		ct, body := multipartBody(t, fields, file, pic)
		return do(t, http.MethodPost, s.URL+"/api/remove", body, map[string]string{"Content-Type": ct})
	}
	decode := func(r response) (image.Image, byte) {
		t.Helper()
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/png" {
			t.Fatalf("got %d %s %.80q, want 200 image/png", r.status, r.header.Get("Content-Type"), r.body)
		}
		img, err := png.Decode(bytes.NewReader(r.body))
		if err != nil {
			t.Fatalf("answer is not a PNG: %v", err)
		}
		return img, r.body[25]
	}

	t.Run("cutout", func(t *testing.T) {
		img, ct := decode(form(nil, "file"))
		if ct != 6 || img.Bounds().Size() != image.Pt(w, h) {
			t.Fatalf("got colour type %d %v, want an RGBA PNG %dx%d", ct, img.Bounds(), w, h)
		}
		if _, _, _, a := img.At(2, 2).RGBA(); a != 0 {
			t.Errorf("background alpha %d, want 0", a)
		}
		if _, _, _, a := img.At(30, 20).RGBA(); a != 0xffff {
			t.Errorf("product alpha %d, want opaque", a)
		}
	})
	t.Run("mask", func(t *testing.T) {
		img, ct := decode(form([][2]string{{"model", "u2netp"}, {"om", "true"}, {"ppm", "on"}}, "file"))
		if ct != 0 || img.Bounds().Size() != image.Pt(w, h) {
			t.Fatalf("got colour type %d %v, want an L PNG %dx%d", ct, img.Bounds(), w, h)
		}
	})
	t.Run("cloth_seg stacked RGBA", func(t *testing.T) {
		img, ct := decode(form([][2]string{{"model", "u2net_cloth_seg"}, {"om", "true"}}, "file"))
		if ct != 6 || img.Bounds().Size() != image.Pt(w, 3*h) {
			t.Fatalf("got colour type %d %v, want an RGBA PNG %dx%d", ct, img.Bounds(), w, 3*h)
		}
		if r, _, _, a := img.At(30, 2*h+20).RGBA(); r != 0xffff || a != 0xffff {
			t.Errorf("full-body class at the product: got r %d a %d, want white and opaque", r, a)
		}
		if r, _, _, a := img.At(2, 2).RGBA(); r != 0 || a != 0xffff {
			t.Errorf("background: got r %d a %d, want black and opaque", r, a)
		}
	})
	t.Run("empty fields take defaults", func(t *testing.T) {
		img, ct := decode(form([][2]string{{"model", ""}, {"om", ""}}, "file"))
		if ct != 6 || img.Bounds().Size() != image.Pt(w, h) {
			t.Errorf("got colour type %d %v, want u2net's RGBA cut-out", ct, img.Bounds())
		}
	})
	t.Run("no file", func(t *testing.T) {
		if got := issues(t, form([][2]string{{"om", "true"}}, "")); !slices.Equal(got, [][2]string{{"missing", "body.file"}}) {
			t.Errorf("got %v", got)
		}
	})
	t.Run("json body", func(t *testing.T) {
		r := do(t, http.MethodPost, s.URL+"/api/remove", map[string]any{"file": pngB64(t, product(w, h, prod))}, nil)
		if got := issues(t, r); !slices.Equal(got, [][2]string{{"missing", "body.file"}}) {
			t.Errorf("got %v", got)
		}
	})
	t.Run("bad fields", func(t *testing.T) {
		got := issues(t, form([][2]string{{"model", "nope"}, {"a", "maybe"}, {"af", "300"}, {"ab", "x"}, {"ae", "-1"}, {"om", "2"}}, "file"))
		want := [][2]string{
			{"string_pattern_mismatch", "body.model"}, {"bool_parsing", "body.a"}, {"less_than_equal", "body.af"},
			{"int_parsing", "body.ab"}, {"greater_than_equal", "body.ae"}, {"bool_parsing", "body.om"},
		}
		if !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("unknown field strict", func(t *testing.T) {
		if got := issues(t, form([][2]string{{"only_mask", "true"}}, "file")); !slices.Equal(got, [][2]string{{"extra_forbidden", "body.only_mask"}}) {
			t.Errorf("got %v", got)
		}
	})
	t.Run("pattern passes, session does not exist", func(t *testing.T) {
		r := form([][2]string{{"model", "u2net-large"}}, "file")
		if r.status != 500 || string(r.body) != "Internal Server Error" {
			t.Errorf("got %d %q, want a bare 500", r.status, r.body)
		}
	})
	t.Run("needs extras", func(t *testing.T) {
		if r := form([][2]string{{"model", "sam"}}, "file"); r.status != 500 {
			t.Errorf("got %d %q, want 500", r.status, r.body)
		}
	})
	t.Run("not a picture", func(t *testing.T) {
		ct, body := multipartBody(t, nil, "file", []byte("hello"))
		r := do(t, http.MethodPost, s.URL+"/api/remove", body, map[string]string{"Content-Type": ct})
		if r.status != 500 || string(r.body) != "Internal Server Error" {
			t.Errorf("got %d %q, want a bare 500", r.status, r.body)
		}
	})
	t.Run("broken multipart", func(t *testing.T) {
		r := do(t, http.MethodPost, s.URL+"/api/remove", "--x\r\nnonsense", map[string]string{"Content-Type": "multipart/form-data; boundary=x"})
		if r.status != 400 || !strings.Contains(string(r.body), "There was an error parsing the body") {
			t.Errorf("got %d %s, want 400", r.status, r.body)
		}
	})
	t.Run("url", func(t *testing.T) {
		cases := []struct {
			query  string
			status int
			detail string
		}{
			{"", 422, ""},
			{"url=" + url.QueryEscape("file:///etc/passwd"), 400, "Only http and https URLs are allowed."},
			{"url=" + url.QueryEscape("http://127.0.0.1/x.png"), 400, "Requests to private/internal addresses are not allowed."},
			{"url=" + url.QueryEscape("http://10.1.2.3/x.png"), 400, "Requests to private/internal addresses are not allowed."},
			{"url=x&model=nope", 422, ""},
		}
		for _, c := range cases {
			r := get(t, s, "/api/remove?"+c.query)
			if r.status != c.status || !strings.Contains(string(r.body), c.detail) {
				t.Errorf("GET ?%s: got %d %s, want %d %q", c.query, r.status, r.body, c.status, c.detail)
			}
		}
	})
	t.Run("routes", func(t *testing.T) {
		if r := get(t, s, "/sdapi/v1/progress"); r.status != 404 || string(r.body) != `{"detail":"Not Found"}` {
			t.Errorf("WebUI route: got %d %s, want FastAPI's 404", r.status, r.body)
		}
		if r := do(t, http.MethodPut, s.URL+"/api/remove", nil, nil); r.status != 405 {
			t.Errorf("PUT /api/remove: got %d, want 405", r.status)
		}
	})
	t.Run("openapi", func(t *testing.T) {
		var doc struct {
			Info struct {
				Title, Version string
			}
			Components struct {
				Schemas map[string]struct {
					Required   []string
					Properties map[string]struct{ Pattern string }
				}
			}
		}
		r := get(t, s, "/openapi.json")
		if err := json.Unmarshal(r.body, &doc); err != nil || r.status != 200 {
			t.Fatalf("got %d %v", r.status, err)
		}
		body := doc.Components.Schemas["Body_post_index_api_remove_post"]
		if doc.Info.Title != "Rembg" || !slices.Equal(body.Required, []string{"file"}) ||
			body.Properties["model"].Pattern != "("+strings.Join(RembgServerModels(), "|")+")" {
			t.Errorf("openapi: got %+v", doc)
		}
	})
}

// TestRembgServerLenient checks that IgnoreUnknownFields drops unknown form fields, as
// the real server does.
func TestRembgServerLenient(t *testing.T) {
	t.Parallel()
	s := rembgServer(t, func(o *Options) { o.IgnoreUnknownFields = true })
	ct, body := multipartBody(t, [][2]string{{"only_mask", "true"}}, "file", pngBytes(t, product(20, 20, image.Rect(5, 5, 15, 15))))
	if r := do(t, http.MethodPost, s.URL+"/api/remove", body, map[string]string{"Content-Type": ct}); r.status != 200 {
		t.Errorf("got %d %s, want 200", r.status, r.body)
	}
}

// TestRembgServerOptions checks that auth is refused for a rembg server.
func TestRembgServerOptions(t *testing.T) {
	t.Parallel()
	if err := (Options{RembgServer: true, Auth: "u:p"}).Validate(); err == nil {
		t.Error("RembgServer with Auth: no error")
	}
}
