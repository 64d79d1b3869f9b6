package sdtest

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestValidation422(t *testing.T) {
	t.Parallel()
	a1111 := setup(t, fastOptions())
	fo := fastOptions()
	fo.Flavor = FlavorForge
	forge := setup(t, fo)
	cases := []struct {
		name       string
		path       string
		body       string
		wantA1111  string
		wantForge  string
		wantStatus int
	}{
		{"string for int", "/sdapi/v1/txt2img", `{"steps":"abc"}`,
			`{"detail":[{"loc":["body","steps"],"msg":"value is not a valid integer","type":"type_error.integer"}]}`,
			`{"detail":[{"type":"int_parsing","loc":["body","steps"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}`, 422},
		{"list for float and bool", "/sdapi/v1/img2img", `{"cfg_scale":[1],"inpaint_full_res":"perhaps"}`,
			`{"detail":[{"loc":["body","cfg_scale"],"msg":"value is not a valid float","type":"type_error.float"},{"loc":["body","inpaint_full_res"],"msg":"value could not be parsed to a boolean","type":"type_error.bool"}]}`,
			`{"detail":[{"type":"float_type","loc":["body","cfg_scale"],"msg":"Input should be a valid number","input":[1]},{"type":"bool_parsing","loc":["body","inpaint_full_res"],"msg":"Input should be a valid boolean, unable to interpret input","input":"perhaps"}]}`, 422},
		{"missing nested field", "/sdapi/v1/extra-batch-images", `{"imageList":[{"data":"x"}]}`,
			`{"detail":[{"loc":["body","imageList",0,"name"],"msg":"field required","type":"value_error.missing"}]}`,
			`{"detail":[{"type":"missing","loc":["body","imageList",0,"name"],"msg":"Field required","input":{"data":"x"}}]}`, 422},
		{"literal out of range", "/sdapi/v1/extra-single-image", `{"resize_mode":2}`,
			`{"detail":[{"loc":["body","resize_mode"],"msg":"unexpected value; permitted: 0, 1","type":"value_error.const","ctx":{"given":2,"permitted":[0,1]}}]}`,
			`{"detail":[{"type":"literal_error","loc":["body","resize_mode"],"msg":"Input should be 0 or 1","input":2,"ctx":{"expected":"0 or 1"}}]}`, 422},
		{"bound", "/sdapi/v1/extra-single-image", `{"extras_upscaler_2_visibility":1.5}`,
			`{"detail":[{"loc":["body","extras_upscaler_2_visibility"],"msg":"ensure this value is less than or equal to 1","type":"value_error.number.not_le","ctx":{"limit_value":1}}]}`,
			`{"detail":[{"type":"less_than_equal","loc":["body","extras_upscaler_2_visibility"],"msg":"Input should be less than or equal to 1","input":1.5,"ctx":{"le":1}}]}`, 422},
		{"body not an object", "/sdapi/v1/txt2img", `[1]`,
			`{"detail":[{"loc":["body"],"msg":"value is not a valid dict","type":"type_error.dict"}]}`,
			`{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":[1]}]}`, 422},
		{"empty body", "/sdapi/v1/txt2img", ``,
			`{"detail":[{"loc":["body"],"msg":"field required","type":"value_error.missing"}]}`,
			`{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}`, 422},
		{"required SAM image", "/sam/sam-predict", `{}`,
			`{"detail":[{"loc":["body","input_image"],"msg":"field required","type":"value_error.missing"}]}`,
			`{"detail":[{"type":"missing","loc":["body","input_image"],"msg":"Field required","input":{}}]}`, 422},
		{"pydantic v1 turns a number into a string, v2 refuses", "/sdapi/v1/txt2img", `{"prompt":5,"steps":1,"width":8,"height":8}`,
			``,
			`{"detail":[{"type":"string_type","loc":["body","prompt"],"msg":"Input should be a valid string","input":5}]}`, 422},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, f := range []struct {
				s    *Server
				want string
			}{{a1111, c.wantA1111}, {forge, c.wantForge}} {
				r := post(t, f.s, c.path, c.body)
				if f.want == "" {
					if r.status != http.StatusOK {
						t.Errorf("%s: got %d %s, want 200", f.s.opts.Flavor, r.status, r.body)
					}
					continue
				}
				if r.status != c.wantStatus || string(r.body) != f.want {
					t.Errorf("%s: got %d %s, want %d %s", f.s.opts.Flavor, r.status, r.body, c.wantStatus, f.want)
				}
			}
		})
	}
}

func TestInvalidJSON(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	r := post(t, s, "/sdapi/v1/txt2img", `{"steps": }`)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), `"type":"value_error.jsondecode"`) {
		t.Errorf("got %d %s, want 422 value_error.jsondecode", r.status, r.body)
	}
}

func TestErrorBodiesByFlavor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, flavor, path, body string
		status                   int
		want                     string
	}{
		{"a1111 404 init image", FlavorA1111, "/sdapi/v1/img2img", `{}`, 404,
			`{"error":"HTTPException","detail":"Init image not found","body":"","errors":""}`},
		{"forge 404 init image", FlavorForge, "/sdapi/v1/img2img", `{}`, 404, `{"detail":"Init image not found"}`},
		{"forge bad base64", FlavorForge, "/sdapi/v1/extra-single-image", `{"image":"%%%"}`, 500, `{"detail":"Invalid encoded image"}`},
		{"a1111 unknown upscaler", FlavorA1111, "/sdapi/v1/extra-single-image", `{"image":"` + tinyPNG + `","upscaler_1":"Bogus"}`, 500,
			`{"error":"AssertionError","detail":"","body":"","errors":"could not find upscaler named Bogus"}`},
		{"forge unknown upscaler", FlavorForge, "/sdapi/v1/extra-single-image", `{"image":"` + tinyPNG + `","upscaler_1":"Bogus"}`, 500,
			`{"error":"AssertionError","detail":"","body":"","message":"could not find upscaler named Bogus"}`},
		{"a1111 unknown checkpoint in options", FlavorA1111, "/sdapi/v1/options", `{"sd_model_checkpoint":"nope"}`, 500,
			`{"error":"RuntimeError","detail":"","body":"","errors":"model 'nope' not found"}`},
		{"unknown route", FlavorA1111, "/sdapi/v1/nope", `{}`, 404, `{"detail":"Not Found"}`},
		{"UI-only route is absent with nowebui", FlavorA1111, "/internal/progress", `{}`, 404, `{"detail":"Not Found"}`},
		{"wrong method", FlavorA1111, "/sdapi/v1/sd-models", `{}`, 405, `{"detail":"Method Not Allowed"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := fastOptions()
			o.Flavor = c.flavor
			o.NoWebUI = true
			s := setup(t, o)
			r := post(t, s, c.path, c.body)
			if r.status != c.status || string(r.body) != c.want {
				t.Errorf("got %d %s, want %d %s", r.status, r.body, c.status, c.want)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type: got %q, want application/json", ct)
			}
		})
	}
}

// tinyPNG is a 1×1 PNG.
const tinyPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

func TestAuth(t *testing.T) {
	t.Parallel()
	for _, flavor := range []string{FlavorA1111, FlavorForge} {
		o := fastOptions()
		o.Auth = "alice:s3cret,bob:pw"
		o.Flavor = flavor
		s := setup(t, o)
		basic := func(up string) map[string]string {
			return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(up))}
		}
		detail := func(d string) string {
			if flavor == FlavorForge {
				return `{"detail":"` + d + `"}`
			}
			return `{"error":"HTTPException","detail":"` + d + `","body":"","errors":""}`
		}
		cases := []struct {
			name   string
			method string
			path   string
			hdr    map[string]string
			status int
			body   string
		}{
			{"no credentials", "GET", "/sdapi/v1/sd-models", nil, 401, detail("Not authenticated")},
			{"wrong password", "GET", "/sdapi/v1/progress", basic("alice:nope"), 401, detail("Incorrect username or password")},
			{"unknown user", "POST", "/sdapi/v1/interrupt", basic("eve:s3cret"), 401, detail("Incorrect username or password")},
			{"not basic", "GET", "/sdapi/v1/memory", map[string]string{"Authorization": "Bearer x"}, 401, detail("Not authenticated")},
			{"right credentials", "GET", "/sdapi/v1/samplers", basic("alice:s3cret"), 200, ""},
			{"second user", "GET", "/sdapi/v1/samplers", basic("bob:pw"), 200, ""},
			{"extension routes stay open", "GET", "/sam/heartbeat", nil, 200, `{"msg":"Success!"}`},
			{"rembg stays open", "POST", "/rembg", nil, 200, ""},
		}
		for _, c := range cases {
			var body any
			if c.method == "POST" {
				body = `{"model":"None"}`
			}
			r := do(t, c.method, s.URL+c.path, body, c.hdr)
			if r.status != c.status {
				t.Errorf("%s %s: got %d %s, want %d", flavor, c.name, r.status, r.body, c.status)
			}
			if c.body != "" && string(r.body) != c.body {
				t.Errorf("%s %s: body got %s, want %s", flavor, c.name, r.body, c.body)
			}
			if c.status == 401 && r.header.Get("WWW-Authenticate") != "Basic" {
				t.Errorf("%s %s: WWW-Authenticate got %q, want Basic", flavor, c.name, r.header.Get("WWW-Authenticate"))
			}
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"zero value", Options{}, true},
		{"defaults", DefaultOptions(), true},
		{"forge", Options{Flavor: FlavorForge}, true},
		{"unknown flavor", Options{Flavor: "comfy"}, false},
		{"negative latency", Options{StepLatency: -time.Millisecond}, false},
		{"negative previews", Options{PreviewEvery: -1}, false},
		{"auth without colon", Options{Auth: "alice"}, false},
		{"colon in password", Options{Auth: "alice:a:b"}, false},
		{"two users", Options{Auth: "a:b,c:d"}, true},
		{"empty checkpoint list", Options{Checkpoints: []string{}}, false},
		{"blank checkpoint", Options{Checkpoints: []string{" "}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := c.opts.Validate()
			if (err == nil) != c.ok {
				t.Fatalf("Validate: got %v, want ok=%v", err, c.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("error %v does not wrap ErrInvalidOptions", err)
			}
			_, nerr := NewUnstarted(c.opts)
			if (nerr == nil) != c.ok {
				t.Errorf("NewUnstarted: got %v, want ok=%v", nerr, c.ok)
			}
		})
	}
}

func TestPyB64Decode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"aGVsbG8=", "hello", false},
		{"aGVs\nbG8=", "hello", false},
		{"aGVs*bG8=", "hello", false},
		{"aGVsbG8", "", true}, // incorrect padding
		{"aGVsbG8=trailing", "hello", false},
		{"aGVsbA==", "hell", false},
		{"a", "", true},
		{"aGVs-G8=", "", true}, // URL-safe '-' is dropped, leaving a partial quantum
		{"", "", false},
	}
	for _, c := range cases {
		got, err := pyB64Decode(c.in)
		if (err != nil) != c.wantErr || (err == nil && string(got) != c.want) {
			t.Errorf("pyB64Decode(%q): got %q, %v, want %q, err=%v", c.in, got, err, c.want, c.wantErr)
		}
	}
}

func TestPyFloatRepr(t *testing.T) {
	t.Parallel()
	cases := map[float64]string{0: "0.0", 7: "7.0", 0.75: "0.75", 1e16: "1e+16", 1e-5: "1e-05", 123456.5: "123456.5", -2: "-2.0"}
	for in, want := range cases {
		if got := pyFloatRepr(in); got != want {
			t.Errorf("pyFloatRepr(%v): got %s, want %s", in, got, want)
		}
	}
	if got := pyDumps(object{{"a", "é"}, {"b", []int64{1, 2}}, {"c", 1.5}}); got != `{"a": "\u00e9", "b": [1, 2], "c": 1.5}` {
		t.Errorf("pyDumps: got %s", got)
	}
}

func TestUnstartedHandler(t *testing.T) {
	t.Parallel()
	s, err := NewUnstarted(Options{})
	if err != nil {
		t.Fatalf("NewUnstarted: %v", err)
	}
	defer s.Close()
	if s.URL != "" {
		t.Errorf("URL: got %q, want empty", s.URL)
	}
	if s.Handler() == nil {
		t.Fatal("Handler: got nil")
	}
}
