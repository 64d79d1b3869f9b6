package sdclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// decodeWire decodes a 2xx body into out the way call does and classifies
// a failure with decodeError.
//
// A body that ends mid-value (io.ErrUnexpectedEOF) is classed ErrUnavailable,
// as a dropped connection is; every other decode failure is ErrBackend.
func decodeWire(data []byte, ep endpoint, out any) error {
	lr := &limitedReader{r: bytes.NewReader(data), n: maxResponseBytes}
	if err := json.NewDecoder(lr).Decode(out); err != nil {
		return decodeError(context.Background(), ep, err)
	}
	return nil
}

// checkDecodeError fails t unless err is ErrBackend, or ErrUnavailable for a
// body cut short.
func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	switch {
	case errors.Is(err, ErrBackend):
	case errors.Is(err, ErrUnavailable) && errors.Is(err, io.ErrUnexpectedEOF):
	default:
		t.Fatalf("decode error %v matches neither ErrBackend nor ErrUnavailable for a short body", err)
	}
}

// FuzzDecodeGeneration checks the decoding of a txt2img/img2img response,
// including the info field that arrives as a JSON string holding JSON: no
// panic, a failure is classified (see checkDecodeError), and Results is a run of Images.
func FuzzDecodeGeneration(f *testing.F) {
	for _, s := range []string{
		`{"images": ["aGVsbG8="], "parameters": {}, "info": "{\"seed\": 1, \"all_seeds\": [1], \"infotexts\": [\"a\"], \"index_of_first_image\": 0}"}`,
		`{"images": ["Z3JpZA==", "aW1n", "bWFzaw=="], "info": {"index_of_first_image": 1, "infotexts": ["g", "i"]}}`,
		`{"images": ["data:image/png;base64,aGk"], "info": "{\"index_of_first_image\": 7, \"all_seeds\": [1,2,3]}"}`,
		`{"images": [null, ""], "info": "not json"}`,
		`{"images": ["%%%"]}`,
		`{"images": [1]}`,
		`{"images": ["aGk="], "info": "{\"width\": \"wide\", \"index_of_first_image\": -3}"}`,
		`{"images": ["aGk="], "info": "\"nested\""}`,
		`{"info": {"seed": 1e999}}`,
		`[]`,
		``,
		`{"images": [`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var w generationWire
		if err := decodeWire(data, epTxt2Img, &w); err != nil {
			checkDecodeError(t, err)
			return
		}
		r := w.response()
		if len(r.Images) != len(w.Images) {
			t.Fatalf("images: got %d, want %d", len(r.Images), len(w.Images))
		}
		res := r.Results()
		if len(res) > len(r.Images) {
			t.Fatalf("results: got %d, want at most %d images", len(res), len(r.Images))
		}
		// Results is a contiguous run of Images.
		if len(res) > 0 {
			found := false
			for i := 0; i+len(res) <= len(r.Images) && !found; i++ {
				found = &r.Images[i] == &res[0]
			}
			if !found {
				t.Fatalf("results are not a run of Images")
			}
		}
	})
}

// FuzzDecodeProgress checks the decoding of a progress response: no panic,
// a failure is classified (see checkDecodeError).
func FuzzDecodeProgress(f *testing.F) {
	for _, s := range []string{
		`{"progress": 0.5, "eta_relative": 3.2, "state": {"skipped": false, "interrupted": false, "job": "scripts_img2img", "job_count": -1, "job_timestamp": "20240101000000", "job_no": 0, "sampling_step": 3, "sampling_steps": 20}, "current_image": null, "textinfo": null}`,
		`{"progress": 0, "current_image": "aGk="}`,
		`{"progress": "half"}`,
		`{"current_image": "data:image/png"}`,
		`{"state": {"job_count": 1e40}}`,
		`null`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var w progressWire
		if err := decodeWire(data, epProgress, &w); err != nil {
			checkDecodeError(t, err)
		}
	})
}

// FuzzParseAPIError checks the decoding of a non-2xx body: no panic, the
// error belongs to one of the package's classes, and copied text is clipped.
func FuzzParseAPIError(f *testing.F) {
	f.Add(404, []byte(`{"detail": "Not Found"}`))
	f.Add(422, []byte(`{"detail": [{"loc": ["body", "steps", 0], "msg": "value is not a valid integer", "type": "type_error.integer"}]}`))
	f.Add(500, []byte(`{"error": "OutOfMemoryError", "detail": "", "body": "", "errors": "CUDA out of memory."}`))
	f.Add(500, []byte(`{"error": "RuntimeError", "message": "Invalid encoded image"}`))
	f.Add(401, []byte(`{"detail": "Not authenticated"}`))
	f.Add(502, []byte(`<html>Bad Gateway</html>`))
	f.Add(500, []byte(``))
	f.Add(418, []byte(`{"detail": {"a": 1}, "errors": 3}`))
	f.Add(200, []byte(`{"detail": [1, 2]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := parseAPIError("txt2img", status, body)
		matched := 0
		for _, s := range []error{ErrOutOfMemory, ErrBadRequest, ErrUnauthorized, ErrBackend, ErrNotFound} {
			if errors.Is(e, s) {
				matched++
			}
		}
		if matched == 0 {
			t.Fatalf("parseAPIError(%d) = %v matches no sentinel", status, e)
		}
		if !strings.HasPrefix(e.Error(), "sd txt2img: status ") {
			t.Fatalf("Error(): got %q, want prefix %q", e.Error(), "sd txt2img: status ")
		}
		for _, s := range []string{e.Detail, e.Message} {
			if len(s) > maxErrorText+len("…") {
				t.Fatalf("text length: got %d, want at most %d", len(s), maxErrorText+len("…"))
			}
		}
	})
}
