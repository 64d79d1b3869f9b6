package main

import (
	"bytes"
	"image/color"
	"strings"
	"testing"
)

// startRembgStub runs cmd/sdstub -rembg, the stand-in for rembg's standalone server,
// on a free loopback port.
func startRembgStub(t *testing.T) string {
	t.Helper()
	return runStub(t, "-rembg", "-addr", "127.0.0.1:0", "-step-latency", "2ms")
}

// TestRembgServerEndToEnd runs pictor with only a standalone rembg server
// (PICTOR_REMBG_URLS, no WebUI): an ingested shot is cut out by remove_background
// engine sd on the server, its mask stored, the server listed by /v1/backends, and
// steps that need a WebUI refused with 503.
func TestRembgServerEndToEnd(t *testing.T) {
	t.Parallel()
	stub := startRembgStub(t)
	s := startServer(t, "PICTOR_REMBG_URLS="+stub)
	src, _ := shot(t)
	var ing ingestAnswer
	if r := s.call(t, "POST", "/v1/images?sku=REMBG-1", "image/png", bytes.NewReader(src), &ing); r.StatusCode != 201 {
		t.Fatalf("ingest: %d %s", r.StatusCode, body(r))
	}
	var a rendAnswer
	r := s.call(t, "POST", "/v1/images/"+ing.Image.ID+"/renditions", "application/json",
		strings.NewReader(`{"wait":"60s","recipe":{"steps":[{"op":"remove_background","engine":"sd","model":"u2netp","store_mask":true}],"outputs":[{"name":"cut","format":"png"}]}}`), &a)
	if r.StatusCode != 201 {
		t.Fatalf("render: %d %s", r.StatusCode, body(r))
	}
	var cut, mask string
	for _, rd := range a.Renditions {
		switch rd.Name {
		case "cut":
			cut = rd.URL
			if rd.Lineage["mask_model"] != "u2netp" || rd.Lineage["mask_backend"] != "rembg server" || rd.GPUSeconds <= 0 {
				t.Errorf("cut-out: lineage %v, GPU-seconds %v; want u2netp on the rembg server, with GPU time", rd.Lineage, rd.GPUSeconds)
			}
		case "mask":
			mask = rd.URL
		}
	}
	if cut == "" || mask == "" {
		t.Fatalf("renditions %+v: want the cut-out and the stored mask", a.Renditions)
	}
	img := decodeURL(t, s, cut)
	if _, _, _, alpha := img.At(5, 5).RGBA(); alpha != 0 {
		t.Errorf("corner alpha = %d, want 0 (background cut away)", alpha)
	}
	if _, _, _, alpha := img.At(200, 180).RGBA(); alpha != 0xffff {
		t.Errorf("product alpha = %d, want opaque", alpha)
	}
	m := decodeURL(t, s, mask)
	if got := color.GrayModel.Convert(m.At(200, 180)).(color.Gray).Y; got != 255 {
		t.Errorf("stored mask at the product = %d, want 255", got)
	}
	if got := color.GrayModel.Convert(m.At(5, 5)).(color.Gray).Y; got != 0 {
		t.Errorf("stored mask at the corner = %d, want 0", got)
	}

	var b struct {
		Configured bool
		Backends   []struct {
			Kind       string
			Healthy    bool
			Calls      int
			GPUSeconds float64 `json:"gpu_seconds"`
			Models     []string
		}
	}
	if r := s.call(t, "GET", "/v1/backends", "", nil, &b); r.StatusCode != 200 || !b.Configured || len(b.Backends) != 1 ||
		b.Backends[0].Kind != "rembg" || !b.Backends[0].Healthy || b.Backends[0].Calls != 1 || b.Backends[0].GPUSeconds <= 0 {
		t.Errorf("backends: %d %+v, want the rembg server, healthy, with one call", r.StatusCode, b)
	}

	for name, c := range map[string]struct{ path, body string }{
		"sam":   {"/v1/images/" + ing.Image.ID + "/renditions", `{"recipe":{"steps":[{"op":"remove_background","engine":"sd","model":"sam"}],"outputs":[{"name":"o"}]}}`},
		"scene": {"/v1/images/" + ing.Image.ID + "/scenes", `{"prompt":"a beach"}`},
	} {
		var p problem
		r := s.call(t, "POST", c.path, "application/json", strings.NewReader(c.body), &p)
		if r.StatusCode != 503 || p.Type != "urn:pictor:problem:sd-backend-required" {
			t.Errorf("%s without a WebUI: %d %+v, want 503", name, r.StatusCode, p)
		}
	}
}
