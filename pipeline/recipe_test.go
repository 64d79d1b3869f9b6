package pipeline

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// designExample is the recipe of the "Recipes" section of docs/DESIGN.md.
const designExample = `{"steps": [
   {"op": "auto_orient"},
   {"op": "upscale", "factor": 2, "engine": "sd", "when": {"shorter_side_below": 800}},
   {"op": "remove_background"},
   {"op": "background", "color": "#ffffff"},
   {"op": "resize", "width": 1000, "height": 1000, "fit": "contain"}],
 "outputs": [
   {"name": "main", "format": "webp", "quality": 85},
   {"name": "thumb", "resize": {"width": 200, "height": 200, "fit": "cover"}, "format": "jpeg"}]}`

// defaultOutput is the canonical form of {"name":"o"}.
const defaultOutput = `{"format":"jpeg","keep_icc":false,"lossless":false,"name":"o","quality":0}`

// oneStep wraps a step in a recipe with a single default output named "o".
func oneStep(step string) string {
	return `{"steps":[` + step + `],"outputs":[{"name":"o"}]}`
}

func mustParse(t *testing.T, s string) *Recipe {
	t.Helper()
	r, err := ParseRecipe([]byte(s))
	if err != nil {
		t.Fatalf("ParseRecipe(%s): got error %v, want nil", s, err)
	}
	return r
}

// fieldsOf returns the Field of every FieldError in err, or fails the test.
func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want a *ValidationError")
	}
	if !errors.Is(err, ErrInvalidRecipe) {
		t.Errorf("errors.Is(%v, ErrInvalidRecipe): got false, want true", err)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got error %T %v, want *ValidationError", err, err)
	}
	fields := make([]string, len(ve.Errors))
	for i, fe := range ve.Errors {
		fields[i] = fe.Field
	}
	return fields
}

func TestParseRecipeDesignExample(t *testing.T) {
	t.Parallel()
	r := mustParse(t, designExample)
	var ops []Op
	for _, s := range r.Steps {
		ops = append(ops, s.Op)
	}
	wantOps := []Op{OpAutoOrient, OpUpscale, OpRemoveBackground, OpBackground, OpResize}
	if !slices.Equal(ops, wantOps) {
		t.Fatalf("ops: got %v, want %v", ops, wantOps)
	}
	up, ok := r.Steps[1].Params.(*UpscaleParams)
	if !ok {
		t.Fatalf("steps[1].Params: got %T, want *UpscaleParams", r.Steps[1].Params)
	}
	if want := (UpscaleParams{Factor: 2, Engine: EngineSD, Upscaler: "R-ESRGAN 4x+"}); *up != want {
		t.Errorf("upscale params: got %+v, want %+v", *up, want)
	}
	if w := r.Steps[1].When; w == nil || w.ShorterSideBelow != 800 {
		t.Errorf("steps[1].When: got %+v, want ShorterSideBelow 800", w)
	}
	if r.Steps[0].When != nil {
		t.Errorf("steps[0].When: got %+v, want nil", r.Steps[0].When)
	}
	if _, ok := r.Steps[0].Params.(*AutoOrientParams); !ok {
		t.Errorf("steps[0].Params: got %T, want *AutoOrientParams", r.Steps[0].Params)
	}
	if bg := r.Steps[3].Params.(*BackgroundParams); bg.Color != "#ffffffff" {
		t.Errorf("background color: got %q, want %q", bg.Color, "#ffffffff")
	}
	wantResize := ResizeParams{Width: 1000, Height: 1000, Fit: "contain", Gravity: "center", Background: "#ffffffff"}
	if rs := r.Steps[4].Params.(*ResizeParams); *rs != wantResize {
		t.Errorf("resize params: got %+v, want %+v", *rs, wantResize)
	}
	main, ok := r.Output("main")
	if !ok || main.Format != "webp" || main.Quality != 85 || main.Resize != nil {
		t.Errorf("Output(main): got %+v, %v, want webp q85 no resize, true", main, ok)
	}
	thumb, ok := r.Output("thumb")
	wantThumb := ResizeParams{Width: 200, Height: 200, Fit: "cover", Gravity: "center", Background: "#ffffffff"}
	if !ok || thumb.Format != "jpeg" || thumb.Resize == nil || *thumb.Resize != wantThumb {
		t.Errorf("Output(thumb): got %+v, %v, want jpeg with resize %+v", thumb, ok, wantThumb)
	}
	if _, ok := r.Output("nope"); ok {
		t.Errorf("Output(nope): got true, want false")
	}
	if !r.NeedsSD() {
		t.Errorf("NeedsSD: got false, want true (upscale engine sd)")
	}
	const wantCanonical = `{"outputs":[{"format":"webp","keep_icc":false,"lossless":false,"name":"main","quality":85},` +
		`{"format":"jpeg","keep_icc":false,"lossless":false,"name":"thumb","quality":0,"resize":{"background":"#ffffffff","fit":"cover","gravity":"center","height":200,"width":200,"without_enlargement":false}}],` +
		`"steps":[{"op":"auto_orient"},` +
		`{"engine":"sd","factor":2,"height":0,"op":"upscale","upscaler":"R-ESRGAN 4x+","when":{"shorter_side_below":800},"width":0},` +
		`{"engine":"classic","model":"u2net","op":"remove_background","store_mask":false,"threshold":0},` +
		`{"color":"#ffffffff","op":"background"},` +
		`{"background":"#ffffffff","fit":"contain","gravity":"center","height":1000,"op":"resize","width":1000,"without_enlargement":false}]}`
	if got := string(r.Canonical()); got != wantCanonical {
		t.Errorf("Canonical:\ngot  %s\nwant %s", got, wantCanonical)
	}
}

// opCases lists, for every op, a minimal step and its canonical form with defaults filled.
var opCases = []struct {
	name, step, canonical string
}{
	{"auto_orient", `{"op":"auto_orient"}`, `{"op":"auto_orient"}`},
	{"strip", `{"op":"strip"}`, `{"op":"strip"}`},
	{"resize", `{"op":"resize","width":100}`,
		`{"background":"#ffffffff","fit":"cover","gravity":"center","height":0,"op":"resize","width":100,"without_enlargement":false}`},
	{"crop", `{"op":"crop","width":10,"height":20}`, `{"gravity":"","height":20,"op":"crop","width":10,"x":0,"y":0}`},
	{"crop gravity", `{"op":"crop","width":10,"height":20,"gravity":"smart"}`,
		`{"gravity":"smart","height":20,"op":"crop","width":10,"x":0,"y":0}`},
	{"trim", `{"op":"trim"}`, `{"op":"trim","threshold":10}`},
	{"pad", `{"op":"pad","top":5}`, `{"bottom":0,"color":"#ffffffff","left":0,"op":"pad","right":0,"top":5}`},
	{"rotate", `{"op":"rotate","angle":90}`, `{"angle":90,"background":"#ffffffff","op":"rotate"}`},
	{"flip", `{"op":"flip","horizontal":true}`, `{"horizontal":true,"op":"flip","vertical":false}`},
	{"blur", `{"op":"blur","sigma":2.5}`, `{"op":"blur","sigma":2.5}`},
	{"sharpen", `{"op":"sharpen"}`, `{"op":"sharpen","sigma":1}`},
	{"background", `{"op":"background"}`, `{"color":"#ffffffff","op":"background"}`},
	{"composite", `{"op":"composite","image":"logo"}`,
		`{"gravity":"southeast","image":"logo","offset_x":0,"offset_y":0,"op":"composite","opacity":1}`},
	{"upscale", `{"op":"upscale"}`,
		`{"engine":"classic","factor":2,"height":0,"op":"upscale","upscaler":"R-ESRGAN 4x+","width":0}`},
	{"upscale to width", `{"op":"upscale","width":1000}`,
		`{"engine":"classic","factor":0,"height":0,"op":"upscale","upscaler":"R-ESRGAN 4x+","width":1000}`},
	{"remove_background", `{"op":"remove_background"}`,
		`{"engine":"classic","model":"u2net","op":"remove_background","store_mask":false,"threshold":0}`},
	{"replace_background color", `{"op":"replace_background","color":"#F00"}`,
		`{"color":"#ff0000ff","engine":"classic","op":"replace_background"}`},
	{"replace_background image", `{"op":"replace_background","image":"abc-123"}`,
		`{"engine":"classic","image":"abc-123","op":"replace_background"}`},
	{"replace_background prompt", `{"op":"replace_background","prompt":"a beach <at> dawn & dusk"}`,
		`{"engine":"sd","negative_prompt":"","op":"replace_background","prompt":"a beach <at> dawn & dusk","steps":30,"strength":0.9}`},
	{"replace_background seed", `{"op":"replace_background","prompt":"p","seed":42,"strength":0}`,
		`{"engine":"sd","negative_prompt":"","op":"replace_background","prompt":"p","seed":42,"steps":30,"strength":0}`},
}

func TestCanonicalFillsDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range opCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := mustParse(t, oneStep(tc.step))
			want := `{"outputs":[` + defaultOutput + `],"steps":[` + tc.canonical + `]}`
			if got := string(r.Canonical()); got != want {
				t.Errorf("Canonical:\ngot  %s\nwant %s", got, want)
			}
		})
	}
}

func TestCanonicalRoundTrip(t *testing.T) {
	t.Parallel()
	full := []struct{ name, step string }{
		{"resize full", `{"op":"resize","width":10,"height":20,"fit":"outside","gravity":"entropy","background":"transparent","without_enlargement":true}`},
		{"crop full", `{"op":"crop","x":3,"y":4,"width":10,"height":20}`},
		{"trim full", `{"op":"trim","threshold":0.5}`},
		{"pad full", `{"op":"pad","top":1,"right":2,"bottom":3,"left":4,"color":"#11223344"}`},
		{"rotate full", `{"op":"rotate","angle":-12.25,"background":"black"}`},
		{"flip full", `{"op":"flip","horizontal":true,"vertical":true}`},
		{"sharpen full", `{"op":"sharpen","sigma":0.3}`},
		{"composite full", `{"op":"composite","image":"x","gravity":"north","offset_x":-4096,"offset_y":4096,"opacity":0}`},
		{"upscale full", `{"op":"upscale","factor":8,"engine":"sd","upscaler":"4x-UltraSharp"}`},
		{"upscale both sides", `{"op":"upscale","width":100,"height":50,"factor":0}`},
		{"remove_background full", `{"op":"remove_background","engine":"sd","model":"sam","store_mask":true,"threshold":255}`},
		{"replace_background full", `{"op":"replace_background","prompt":"line 1\nline 2 \"quoted\" é","negative_prompt":"blur","seed":4294967295,"steps":150,"strength":1,"engine":"sd"}`},
		{"with when", `{"op":"sharpen","when":{"sharpness_below":0.125,"has_alpha":false,"background_plain":true,"format":["PNG","jpg","jpeg"],"jpeg_quality_below":70,"width_below":1,"height_below":2,"longer_side_above":3,"shorter_side_below":4}}`},
	}
	steps := make([]struct{ name, step string }, 0, len(opCases)+len(full))
	for _, tc := range opCases {
		steps = append(steps, struct{ name, step string }{tc.name, tc.step})
	}
	steps = append(steps, full...)
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := mustParse(t, oneStep(tc.step))
			first := r.Canonical()
			again := mustParse(t, string(first))
			if got := again.Canonical(); string(got) != string(first) {
				t.Errorf("Canonical after round trip:\ngot  %s\nwant %s", got, first)
			}
			if !reflect.DeepEqual(again, r) {
				t.Errorf("parsed canonical: got %+v, want %+v", again, r)
			}
			if err := r.Validate(); err != nil {
				t.Errorf("Validate: got %v, want nil", err)
			}
		})
	}
	t.Run("outputs", func(t *testing.T) {
		t.Parallel()
		r := mustParse(t, `{"outputs":[{"name":"a","format":"avif","quality":50,"lossless":true,"keep_icc":true,"resize":{"height":7,"fit":"fill"}},{"name":"b_2","format":"auto"},{"name":"c","format":"png"}]}`)
		first := r.Canonical()
		if got := mustParse(t, string(first)).Canonical(); string(got) != string(first) {
			t.Errorf("Canonical after round trip:\ngot  %s\nwant %s", got, first)
		}
		const want = `{"outputs":[{"format":"avif","keep_icc":true,"lossless":true,"name":"a","quality":50,"resize":{"background":"#ffffffff","fit":"fill","gravity":"center","height":7,"width":0,"without_enlargement":false}},` +
			`{"format":"auto","keep_icc":false,"lossless":false,"name":"b_2","quality":0},` +
			`{"format":"png","keep_icc":false,"lossless":false,"name":"c","quality":0}],"steps":[]}`
		if string(first) != want {
			t.Errorf("Canonical:\ngot  %s\nwant %s", first, want)
		}
	})
}

func TestCanonicalIgnoresKeyOrderAndWhitespace(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, a, b string }{
		{"design example compacted", designExample,
			`{"steps":[{"op":"auto_orient"},{"op":"upscale","factor":2,"engine":"sd","when":{"shorter_side_below":800}},{"op":"remove_background"},{"op":"background","color":"#ffffff"},{"op":"resize","width":1000,"height":1000,"fit":"contain"}],"outputs":[{"name":"main","format":"webp","quality":85},{"name":"thumb","resize":{"width":200,"height":200,"fit":"cover"},"format":"jpeg"}]}`},
		{"keys reordered at every level", designExample,
			"{\"outputs\" : [ {\"quality\":85,\"format\":\"webp\",\"name\":\"main\"},\n\t{\"format\":\"jpeg\",\"resize\":{\"fit\":\"cover\",\"height\":200,\"width\":200},\"name\":\"thumb\"} ],\n" +
				"\"steps\":[{\"op\":\"auto_orient\"},{\"when\":{\"shorter_side_below\":800},\"engine\":\"sd\",\"factor\":2,\"op\":\"upscale\"},\r\n{\"op\":\"remove_background\"},{\"color\":\"#ffffff\",\"op\":\"background\"},{\"fit\":\"contain\",\"height\":1000,\"width\":1000,\"op\":\"resize\"}]}"},
		{"numbers written differently", oneStep(`{"op":"blur","sigma":2}`), oneStep(`{"op":"blur","sigma":2.0}`)},
		{"exponent", oneStep(`{"op":"resize","width":1000}`), oneStep(`{"op":"resize","width":1e3}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := mustParse(t, tc.a), mustParse(t, tc.b)
			if ca, cb := string(a.Canonical()), string(b.Canonical()); ca != cb {
				t.Errorf("Canonical differs:\ngot  %s\nwant %s", cb, ca)
			}
			if a.Hash() != b.Hash() {
				t.Errorf("Hash: got %s, want %s", b.Hash(), a.Hash())
			}
		})
	}
}

func TestHashExplicitDefaultsEqualOmitted(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, explicit, omitted string }{
		{"resize", oneStep(`{"op":"resize","width":10,"height":0,"fit":"cover","gravity":"center","background":"#fff","without_enlargement":false}`),
			oneStep(`{"op":"resize","width":10}`)},
		{"colour spellings", oneStep(`{"op":"background","color":"WHITE"}`), oneStep(`{"op":"background","color":"#FFFFFFFF"}`)},
		{"trim", oneStep(`{"op":"trim","threshold":10}`), oneStep(`{"op":"trim"}`)},
		{"sharpen", oneStep(`{"op":"sharpen","sigma":1}`), oneStep(`{"op":"sharpen"}`)},
		{"composite", oneStep(`{"op":"composite","image":"a","gravity":"southeast","opacity":1,"offset_x":0}`), oneStep(`{"op":"composite","image":"a"}`)},
		{"upscale", oneStep(`{"op":"upscale","factor":2,"engine":"classic","upscaler":"R-ESRGAN 4x+"}`), oneStep(`{"op":"upscale"}`)},
		{"remove_background", oneStep(`{"op":"remove_background","engine":"classic","model":"u2net","store_mask":false,"threshold":0}`), oneStep(`{"op":"remove_background"}`)},
		{"replace_background prompt", oneStep(`{"op":"replace_background","prompt":"p","steps":30,"strength":0.9,"engine":"sd","negative_prompt":"","seed":null}`),
			oneStep(`{"op":"replace_background","prompt":"p"}`)},
		{"replace_background color", oneStep(`{"op":"replace_background","color":"#000","engine":"classic"}`), oneStep(`{"op":"replace_background","color":"black"}`)},
		{"null when", oneStep(`{"op":"strip","when":null}`), oneStep(`{"op":"strip"}`)},
		{"when format order", oneStep(`{"op":"strip","when":{"format":["png","jpg"]}}`), oneStep(`{"op":"strip","when":{"format":["jpeg","PNG","png"]}}`)},
		{"output", `{"outputs":[{"name":"o","format":"jpg","quality":0,"lossless":false,"keep_icc":false,"resize":null}]}`, `{"steps":[],"outputs":[{"name":"o"}]}`},
		{"no steps key", `{"outputs":[{"name":"o"}]}`, `{"steps":[],"outputs":[{"name":"o"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := mustParse(t, tc.explicit), mustParse(t, tc.omitted)
			if ha, hb := a.Hash(), b.Hash(); ha != hb {
				t.Errorf("Hash: got %s, want %s\nexplicit %s\nomitted  %s", ha, hb, a.Canonical(), b.Canonical())
			}
		})
	}
}

func TestHashDiffersForDifferentParams(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, a, b string }{
		{"width", oneStep(`{"op":"resize","width":10}`), oneStep(`{"op":"resize","width":11}`)},
		{"fit", oneStep(`{"op":"resize","width":10}`), oneStep(`{"op":"resize","width":10,"fit":"contain"}`)},
		{"colour", oneStep(`{"op":"background","color":"#fff"}`), oneStep(`{"op":"background","color":"#ffffff00"}`)},
		{"seed given", oneStep(`{"op":"replace_background","prompt":"p"}`), oneStep(`{"op":"replace_background","prompt":"p","seed":1}`)},
		{"seed value", oneStep(`{"op":"replace_background","prompt":"p","seed":1}`), oneStep(`{"op":"replace_background","prompt":"p","seed":2}`)},
		{"prompt", oneStep(`{"op":"replace_background","prompt":"p"}`), oneStep(`{"op":"replace_background","prompt":"q"}`)},
		{"engine", oneStep(`{"op":"upscale"}`), oneStep(`{"op":"upscale","engine":"sd"}`)},
		{"when", oneStep(`{"op":"strip"}`), oneStep(`{"op":"strip","when":{"has_alpha":true}}`)},
		{"when value", oneStep(`{"op":"strip","when":{"has_alpha":true}}`), oneStep(`{"op":"strip","when":{"has_alpha":false}}`)},
		{"step order", `{"steps":[{"op":"strip"},{"op":"auto_orient"}],"outputs":[{"name":"o"}]}`,
			`{"steps":[{"op":"auto_orient"},{"op":"strip"}],"outputs":[{"name":"o"}]}`},
		{"output name", `{"outputs":[{"name":"a"}]}`, `{"outputs":[{"name":"b"}]}`},
		{"output quality", `{"outputs":[{"name":"a","quality":80}]}`, `{"outputs":[{"name":"a","quality":81}]}`},
		{"output resize", `{"outputs":[{"name":"a"}]}`, `{"outputs":[{"name":"a","resize":{"width":5}}]}`},
		{"float precision", oneStep(`{"op":"blur","sigma":1.0000001}`), oneStep(`{"op":"blur","sigma":1.0000002}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := mustParse(t, tc.a), mustParse(t, tc.b)
			if a.Hash() == b.Hash() {
				t.Errorf("Hash: got equal %s for\n%s\n%s\nwant different", a.Hash(), a.Canonical(), b.Canonical())
			}
		})
	}
}

func TestHashFormat(t *testing.T) {
	t.Parallel()
	r := mustParse(t, designExample)
	h := r.Hash()
	if len(h) != 32 {
		t.Fatalf("len(Hash): got %d, want 32", len(h))
	}
	if _, err := hex.DecodeString(h); err != nil || strings.ToLower(h) != h {
		t.Errorf("Hash %q: got not lower-case hex, want lower-case hex", h)
	}
	if again := mustParse(t, designExample).Hash(); again != h {
		t.Errorf("Hash of a second parse: got %s, want %s", again, h)
	}
}

func TestParseRecipeFieldErrors(t *testing.T) {
	t.Parallel()
	manySteps := make([]string, MaxSteps+1)
	for i := range manySteps {
		manySteps[i] = `{"op":"strip"}`
	}
	manyOutputs := make([]string, MaxOutputs+1)
	for i := range manyOutputs {
		manyOutputs[i] = fmt.Sprintf(`{"name":"o%d"}`, i)
	}
	tests := []struct {
		name  string
		input string
		field string // must be among the errors
		msg   string // substring of that error's message, when set
	}{
		{"unknown op", oneStep(`{"op":"explode"}`), "steps[0].op", `unknown op "explode"`},
		{"missing op", oneStep(`{"width":5}`), "steps[0].op", "required"},
		{"op not a string", oneStep(`{"op":5}`), "steps[0].op", "must be a string"},
		{"unknown field for op", oneStep(`{"op":"resize","widht":5}`), "steps[0].widht", "unknown field"},
		{"field of another op", oneStep(`{"op":"strip","sigma":1}`), "steps[0].sigma", "unknown field"},
		{"field names are case sensitive", oneStep(`{"op":"resize","Width":5,"width":5}`), "steps[0].Width", "unknown field"},
		{"duplicate field", oneStep(`{"op":"resize","width":5,"width":6}`), "steps[0].width", "duplicate field"},
		{"string for int", oneStep(`{"op":"resize","width":"abc"}`), "steps[0].width", "must be an integer, got string"},
		{"fraction for int", oneStep(`{"op":"resize","width":1.5}`), "steps[0].width", "must be an integer, got 1.5"},
		{"bool for int", oneStep(`{"op":"resize","width":true}`), "steps[0].width", "must be an integer"},
		{"string for float", oneStep(`{"op":"blur","sigma":"2"}`), "steps[0].sigma", "must be a number, got string"},
		{"string for bool", oneStep(`{"op":"resize","width":5,"without_enlargement":"yes"}`), "steps[0].without_enlargement", "must be true or false"},
		{"number for string", oneStep(`{"op":"resize","width":5,"fit":1}`), "steps[0].fit", "must be a string, got number"},
		{"width too large", oneStep(`{"op":"resize","width":16385}`), "steps[0].width", "must be between 0 and 16384, got 16385"},
		{"width negative", oneStep(`{"op":"resize","width":-1}`), "steps[0].width", "must be between 0 and 16384"},
		{"width beyond int64", oneStep(`{"op":"resize","width":1e30}`), "steps[0].width", "must be between 0 and 16384"},
		{"resize without size", oneStep(`{"op":"resize","fit":"cover"}`), "steps[0].width", "width or height is required"},
		{"bad fit", oneStep(`{"op":"resize","width":5,"fit":"stretch"}`), "steps[0].fit", "must be one of cover, contain, fill, inside, outside"},
		{"bad gravity", oneStep(`{"op":"resize","width":5,"gravity":"up"}`), "steps[0].gravity", "must be one of"},
		{"bad colour short", oneStep(`{"op":"background","color":"#12345"}`), "steps[0].color", "must be a colour"},
		{"bad colour name", oneStep(`{"op":"background","color":"red"}`), "steps[0].color", "must be a colour"},
		{"bad colour digits", oneStep(`{"op":"pad","top":1,"color":"#ggg"}`), "steps[0].color", "must be a colour"},
		{"empty colour", oneStep(`{"op":"resize","width":1,"background":""}`), "steps[0].background", "must be a colour"},
		{"crop missing width", oneStep(`{"op":"crop","height":5}`), "steps[0].width", "required"},
		{"crop missing height", oneStep(`{"op":"crop","width":5}`), "steps[0].height", "required"},
		{"crop zero width", oneStep(`{"op":"crop","width":0,"height":5}`), "steps[0].width", "must be between 1 and 16384"},
		{"crop negative x", oneStep(`{"op":"crop","x":-1,"width":5,"height":5}`), "steps[0].x", "must be between 0"},
		{"crop gravity with x", oneStep(`{"op":"crop","x":3,"width":5,"height":5,"gravity":"center"}`), "steps[0].x", "must be 0 when gravity is set"},
		{"trim threshold", oneStep(`{"op":"trim","threshold":256}`), "steps[0].threshold", "must be between 0 and 255"},
		{"pad nothing", oneStep(`{"op":"pad"}`), "steps[0]", "at least one of top, right, bottom, left"},
		{"pad too wide", oneStep(`{"op":"pad","left":4097}`), "steps[0].left", "must be between 0 and 4096"},
		{"rotate missing angle", oneStep(`{"op":"rotate"}`), "steps[0].angle", "required"},
		{"rotate null angle", oneStep(`{"op":"rotate","angle":null}`), "steps[0].angle", "required"},
		{"rotate zero", oneStep(`{"op":"rotate","angle":0}`), "steps[0].angle", "must not be 0"},
		{"rotate too far", oneStep(`{"op":"rotate","angle":361}`), "steps[0].angle", "must be between -360 and 360"},
		{"flip nothing", oneStep(`{"op":"flip","horizontal":false}`), "steps[0]", "at least one of horizontal, vertical"},
		{"blur missing sigma", oneStep(`{"op":"blur"}`), "steps[0].sigma", "required"},
		{"blur small sigma", oneStep(`{"op":"blur","sigma":0.2}`), "steps[0].sigma", "must be between 0.3 and 100, got 0.2"},
		{"sharpen big sigma", oneStep(`{"op":"sharpen","sigma":11}`), "steps[0].sigma", "must be between 0.3 and 10"},
		{"composite missing image", oneStep(`{"op":"composite"}`), "steps[0].image", "required"},
		{"composite bad image", oneStep(`{"op":"composite","image":"../etc/passwd"}`), "steps[0].image", "must be an image id"},
		{"composite smart gravity", oneStep(`{"op":"composite","image":"a","gravity":"smart"}`), "steps[0].gravity", "must be one of"},
		{"composite opacity", oneStep(`{"op":"composite","image":"a","opacity":1.5}`), "steps[0].opacity", "must be between 0 and 1"},
		{"upscale factor 1", oneStep(`{"op":"upscale","factor":1}`), "steps[0].factor", "must be greater than 1 and at most 8"},
		{"upscale factor 9", oneStep(`{"op":"upscale","factor":9}`), "steps[0].factor", "must be greater than 1 and at most 8"},
		{"upscale factor with width", oneStep(`{"op":"upscale","factor":2,"width":500}`), "steps[0].factor", "must be omitted when width or height is set"},
		{"upscale engine", oneStep(`{"op":"upscale","engine":"gpu"}`), "steps[0].engine", "must be one of classic, sd"},
		{"upscale empty upscaler", oneStep(`{"op":"upscale","upscaler":""}`), "steps[0].upscaler", "must not be empty"},
		{"rembg model", oneStep(`{"op":"remove_background","model":"u3net"}`), "steps[0].model", "must be one of"},
		{"replace nothing", oneStep(`{"op":"replace_background"}`), "steps[0]", "exactly one of color, image, prompt"},
		{"replace two", oneStep(`{"op":"replace_background","color":"#fff","image":"a"}`), "steps[0].image", "only one of color, image, prompt"},
		{"replace empty prompt", oneStep(`{"op":"replace_background","prompt":""}`), "steps[0].prompt", "must not be empty"},
		{"replace long prompt", oneStep(`{"op":"replace_background","prompt":"` + strings.Repeat("é", MaxPromptChars+1) + `"}`), "steps[0].prompt", "must be 1 to 2000 characters, got 2001"},
		{"replace control char", oneStep(`{"op":"replace_background","prompt":"a\u0000b"}`), "steps[0].prompt", "control characters"},
		{"replace seed without prompt", oneStep(`{"op":"replace_background","color":"#fff","seed":1}`), "steps[0].seed", "only allowed with prompt"},
		{"replace negative seed", oneStep(`{"op":"replace_background","prompt":"p","seed":-1}`), "steps[0].seed", "must be between 0 and 4294967295"},
		{"replace steps", oneStep(`{"op":"replace_background","prompt":"p","steps":151}`), "steps[0].steps", "must be between 1 and 150"},
		{"replace strength", oneStep(`{"op":"replace_background","prompt":"p","strength":1.1}`), "steps[0].strength", "must be between 0 and 1"},
		{"replace classic with prompt", oneStep(`{"op":"replace_background","prompt":"p","engine":"classic"}`), "steps[0].engine", `must be "sd" when prompt is set`},
		{"replace sd without prompt", oneStep(`{"op":"replace_background","color":"#fff","engine":"sd"}`), "steps[0].engine", `must be "classic" unless prompt is set`},
		{"step not an object", oneStep(`"strip"`), "steps[0]", "must be an object, got string"},
		{"later step", `{"steps":[{"op":"strip"},{"op":"strip"},{"op":"resize","width":0}],"outputs":[{"name":"o"}]}`, "steps[2].width", "width or height is required"},
		{"steps not an array", `{"steps":{"op":"strip"},"outputs":[{"name":"o"}]}`, "steps", "must be an array, got object"},
		{"too many steps", `{"steps":[` + strings.Join(manySteps, ",") + `],"outputs":[{"name":"o"}]}`, "steps", "33 steps, at most 32 allowed"},
		{"when empty", oneStep(`{"op":"strip","when":{}}`), "steps[0].when", "no condition"},
		{"when only nulls", oneStep(`{"op":"strip","when":{"has_alpha":null}}`), "steps[0].when", "no condition"},
		{"when unknown field", oneStep(`{"op":"strip","when":{"shorter_side":5}}`), "steps[0].when.shorter_side", "unknown field"},
		{"when wrong type", oneStep(`{"op":"strip","when":{"width_below":"5"}}`), "steps[0].when.width_below", "must be an integer"},
		{"when not an object", oneStep(`{"op":"strip","when":true}`), "steps[0].when", "must be an object"},
		{"when bad format", oneStep(`{"op":"strip","when":{"format":["jpeg","svg"]}}`), "steps[0].when.format[1]", "must be one of"},
		{"unknown top-level field", `{"stpes":[],"outputs":[{"name":"o"}]}`, "stpes", "unknown field"},
		{"missing outputs", `{"steps":[]}`, "outputs", "required"},
		{"null outputs", `{"outputs":null}`, "outputs", "required"},
		{"empty outputs", `{"outputs":[]}`, "outputs", "at least one output is required"},
		{"too many outputs", `{"outputs":[` + strings.Join(manyOutputs, ",") + `]}`, "outputs", "9 outputs, at most 8 allowed"},
		{"duplicate output names", `{"outputs":[{"name":"a"},{"name":"a","format":"png"}]}`, "outputs[1].name", `duplicate output name "a" (also outputs[0])`},
		{"output named like the stored mask", `{"steps":[{"op":"strip"},{"op":"remove_background","store_mask":true}],"outputs":[{"name":"a"},{"name":"mask"}]}`,
			"outputs[1].name", `"mask" is the mask steps[1] stores (store_mask)`},
		{"output missing name", `{"outputs":[{"format":"png"}]}`, "outputs[0].name", "required"},
		{"output bad name", `{"outputs":[{"name":"Main"}]}`, "outputs[0].name", "must match"},
		{"output name with dot", `{"outputs":[{"name":"a.b"}]}`, "outputs[0].name", "must match"},
		{"output name too long", `{"outputs":[{"name":"` + strings.Repeat("a", 33) + `"}]}`, "outputs[0].name", "must match"},
		{"output bad format", `{"outputs":[{"name":"a","format":"gif"}]}`, "outputs[0].format", "must be one of jpeg, jpg, png, webp, avif, auto"},
		{"output quality", `{"outputs":[{"name":"a","quality":101}]}`, "outputs[0].quality", "must be between 1 and 100"},
		{"output lossless jpeg", `{"outputs":[{"name":"a","lossless":true}]}`, "outputs[0].lossless", "not supported for jpeg"},
		{"output unknown field", `{"outputs":[{"name":"a","formt":"png"}]}`, "outputs[0].formt", "unknown field"},
		{"output resize unknown field", `{"outputs":[{"name":"a","resize":{"widht":5}}]}`, "outputs[0].resize.widht", "unknown field"},
		{"output resize no size", `{"outputs":[{"name":"a","resize":{"fit":"cover"}}]}`, "outputs[0].resize.width", "width or height is required"},
		{"output resize range", `{"outputs":[{"name":"a","resize":{"height":99999}}]}`, "outputs[0].resize.height", "must be between 0 and 16384"},
		{"body too large", `{"outputs":[{"name":"a"}],"x":"` + strings.Repeat("x", MaxRecipeBytes) + `"}`, "", "more than the limit of 65536"},
		{"invalid JSON", `{"outputs":[`, "", "invalid JSON"},
		{"trailing data", `{"outputs":[{"name":"a"}]} {}`, "", "invalid JSON"},
		{"not an object", `[1,2]`, "", "must be an object, got array"},
		{"null body", `null`, "", "must be an object, got null"},
		{"empty body", ``, "", "invalid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := ParseRecipe([]byte(tc.input))
			if r != nil {
				t.Errorf("recipe: got %+v, want nil", r)
			}
			fields := fieldsOf(t, err)
			var ve *ValidationError
			errors.As(err, &ve)
			i := slices.Index(fields, tc.field)
			if i < 0 {
				t.Fatalf("fields: got %q, want one of them %q (error %v)", fields, tc.field, err)
			}
			if msg := ve.Errors[i].Message; !strings.Contains(msg, tc.msg) {
				t.Errorf("%s message: got %q, want it to contain %q", tc.field, msg, tc.msg)
			}
		})
	}
}

func TestParseRecipeCollectsAllErrors(t *testing.T) {
	t.Parallel()
	in := `{"steps":[{"op":"resize","widht":5,"width":"x"},{"op":"nope"},{"op":"blur"}],"outputs":[{"name":"a","format":"bmp"},{"name":"a"}],"extra":1}`
	_, err := ParseRecipe([]byte(in))
	got := fieldsOf(t, err)
	want := []string{"steps[0].width", "steps[0].widht", "steps[1].op", "steps[2].sigma", "outputs[0].format", "extra"}
	if !slices.Equal(got, want) {
		t.Errorf("fields: got %q, want %q", got, want)
	}
	const wantMsg = `steps[0].width: must be an integer, got string; steps[0].widht: unknown field; steps[1].op: unknown op "nope"; ` +
		`steps[2].sigma: required; outputs[0].format: must be one of jpeg, jpg, png, webp, avif, auto, got "bmp"; extra: unknown field`
	if err.Error() != wantMsg {
		t.Errorf("Error():\ngot  %s\nwant %s", err.Error(), wantMsg)
	}
}

func TestParseRecipeCapsErrors(t *testing.T) {
	t.Parallel()
	steps := make([]string, 30)
	for i := range steps {
		steps[i] = `{"op":"strip","bogus":1}`
	}
	_, err := ParseRecipe([]byte(`{"steps":[` + strings.Join(steps, ",") + `],"outputs":[{"name":"o"}]}`))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want *ValidationError", err)
	}
	if len(ve.Errors) != MaxFieldErrors {
		t.Fatalf("len(Errors): got %d, want %d", len(ve.Errors), MaxFieldErrors)
	}
	if got, want := ve.Errors[MaxFieldErrors-2].Field, "steps[18].bogus"; got != want {
		t.Errorf("last real error: got %q, want %q", got, want)
	}
	if got, want := ve.Errors[MaxFieldErrors-1], (FieldError{Message: "11 more errors not shown"}); got != want {
		t.Errorf("last entry: got %+v, want %+v", got, want)
	}
}

func TestParseRecipeAcceptsLimits(t *testing.T) {
	t.Parallel()
	steps := make([]string, MaxSteps)
	for i := range steps {
		steps[i] = `{"op":"strip"}`
	}
	outputs := make([]string, MaxOutputs)
	for i := range outputs {
		outputs[i] = fmt.Sprintf(`{"name":"o%d"}`, i)
	}
	tests := []struct{ name, input string }{
		{"32 steps and 8 outputs", `{"steps":[` + strings.Join(steps, ",") + `],"outputs":[` + strings.Join(outputs, ",") + `]}`},
		{"no steps", `{"outputs":[{"name":"o"}]}`},
		{"body of exactly 64 KiB", func() string {
			s := `{"outputs":[{"name":"o"}]}`
			return s + strings.Repeat(" ", MaxRecipeBytes-len(s))
		}()},
		{"longest names", `{"outputs":[{"name":"` + strings.Repeat("a", 32) + `"},{"name":"0-_"}]}`},
		{"longest prompt", oneStep(`{"op":"replace_background","prompt":"` + strings.Repeat("é", MaxPromptChars) + `"}`)},
		{"sha256 image", oneStep(`{"op":"composite","image":"` + strings.Repeat("ab", 32) + `"}`)},
		{"null optional fields", oneStep(`{"op":"resize","width":5,"fit":null,"when":null}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mustParse(t, tc.input)
		})
	}
}

func TestNeedsSD(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, step string
		want       bool
	}{
		{"classic upscale", `{"op":"upscale"}`, false},
		{"sd upscale", `{"op":"upscale","engine":"sd"}`, true},
		{"classic remove_background", `{"op":"remove_background"}`, false},
		{"sd remove_background", `{"op":"remove_background","engine":"sd"}`, true},
		{"colour replace", `{"op":"replace_background","color":"#fff"}`, false},
		{"image replace", `{"op":"replace_background","image":"x"}`, false},
		{"prompt replace", `{"op":"replace_background","prompt":"a beach"}`, true},
		{"resize", `{"op":"resize","width":1}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := mustParse(t, oneStep(tc.step)).NeedsSD(); got != tc.want {
				t.Errorf("NeedsSD: got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestValidRecipeName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want bool
	}{
		{"listing-main", true},
		{"a", true},
		{"0", true},
		{"v1.2_thumb", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"-lead", false},
		{".hidden", false},
		{"Upper", false},
		{"a/b", false},
		{"a b", false},
		{"é", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.name), func(t *testing.T) {
			t.Parallel()
			if got := ValidRecipeName(tc.name); got != tc.want {
				t.Errorf("ValidRecipeName(%q): got %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}

func TestRecipeJSON(t *testing.T) {
	t.Parallel()
	r := mustParse(t, designExample)
	t.Run("MarshalJSON is Canonical", func(t *testing.T) {
		t.Parallel()
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("json.Marshal: got %v, want nil", err)
		}
		if string(b) != string(r.Canonical()) {
			t.Errorf("json.Marshal:\ngot  %s\nwant %s", b, r.Canonical())
		}
	})
	t.Run("UnmarshalJSON validates", func(t *testing.T) {
		t.Parallel()
		var req struct {
			Recipe *Recipe `json:"recipe"`
		}
		if err := json.Unmarshal([]byte(`{"recipe":`+designExample+`}`), &req); err != nil {
			t.Fatalf("json.Unmarshal: got %v, want nil", err)
		}
		if req.Recipe.Hash() != r.Hash() {
			t.Errorf("Hash: got %s, want %s", req.Recipe.Hash(), r.Hash())
		}
		err := json.Unmarshal([]byte(`{"recipe":{"outputs":[{"name":"a","bogus":1}]}}`), &req)
		if !errors.Is(err, ErrInvalidRecipe) {
			t.Errorf("json.Unmarshal of a bad recipe: got %v, want ErrInvalidRecipe", err)
		}
	})
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		recipe *Recipe
		ok     bool
	}{
		{"parsed", mustParse(t, designExample), true},
		{"built with defaults", &Recipe{
			Steps:   []Step{{Op: OpSharpen, Params: &SharpenParams{Sigma: 1}}},
			Outputs: []Output{{Name: "o", Format: "png"}},
		}, true},
		{"built without defaults", &Recipe{
			Steps:   []Step{{Op: OpResize, Params: &ResizeParams{Width: 10}}},
			Outputs: []Output{{Name: "o", Format: "png"}},
		}, false},
		{"out of range", &Recipe{
			Steps:   []Step{{Op: OpSharpen, Params: &SharpenParams{Sigma: 100}}},
			Outputs: []Output{{Name: "o", Format: "png"}},
		}, false},
		{"colour not normalised", &Recipe{
			Steps:   []Step{{Op: OpBackground, Params: &BackgroundParams{Color: "#FFF"}}},
			Outputs: []Output{{Name: "o", Format: "png"}},
		}, false},
		{"not a number", &Recipe{
			Steps:   []Step{{Op: OpSharpen, Params: &SharpenParams{Sigma: math.NaN()}}},
			Outputs: []Output{{Name: "o", Format: "png"}},
		}, false},
		{"no outputs", &Recipe{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.recipe.Validate()
			if (err == nil) != tc.ok {
				t.Errorf("Validate: got %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidRecipe) {
				t.Errorf("Validate: got %v, want it to match ErrInvalidRecipe", err)
			}
		})
	}
}

func TestTestdataRecipes(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "recipes", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"listing-main.json", "thumb.json", "watermark.json"} {
		if !slices.Contains(files, filepath.Join("testdata", "recipes", want)) {
			t.Errorf("testdata/recipes: got %q, want it to hold %s", files, want)
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r := mustParse(t, string(data))
			if name := strings.TrimSuffix(filepath.Base(f), ".json"); !ValidRecipeName(name) {
				t.Errorf("ValidRecipeName(%q): got false, want true", name)
			}
			c := r.Canonical()
			if got := mustParse(t, string(c)).Canonical(); string(got) != string(c) {
				t.Errorf("round trip:\ngot  %s\nwant %s", got, c)
			}
		})
	}
	t.Run("listing-main is the design example", func(t *testing.T) {
		t.Parallel()
		data, err := os.ReadFile(filepath.Join("testdata", "recipes", "listing-main.json"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := mustParse(t, string(data)).Hash(), mustParse(t, designExample).Hash(); got != want {
			t.Errorf("Hash: got %s, want %s", got, want)
		}
	})
}
