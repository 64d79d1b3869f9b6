package sdclient

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseAPIError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		body       string
		want       error
		wantKind   string
		wantDetail string
		wantMsg    string
		wantIssues []string
	}{
		{
			name:     "a1111 oom",
			status:   500,
			body:     `{"error":"OutOfMemoryError","detail":"","body":"","errors":"CUDA out of memory. Tried to allocate 1.11 GiB"}`,
			want:     ErrOutOfMemory,
			wantKind: "OutOfMemoryError",
			wantMsg:  "CUDA out of memory. Tried to allocate 1.11 GiB",
		},
		{
			name:     "forge oom in message",
			status:   500,
			body:     `{"error":"OutOfMemoryError","detail":"","body":"","message":"CUDA out of memory."}`,
			want:     ErrOutOfMemory,
			wantKind: "OutOfMemoryError",
			wantMsg:  "CUDA out of memory.",
		},
		{
			name:     "a1111 runtime error",
			status:   500,
			body:     `{"error":"RuntimeError","detail":"","body":"","errors":"expected scalar type Half"}`,
			want:     ErrBackend,
			wantKind: "RuntimeError",
			wantMsg:  "expected scalar type Half",
		},
		{
			name:     "forge runtime error",
			status:   500,
			body:     `{"error":"RuntimeError","detail":"","body":"","message":"boom"}`,
			want:     ErrBackend,
			wantKind: "RuntimeError",
			wantMsg:  "boom",
		},
		{
			name:       "invalid encoded image",
			status:     500,
			body:       `{"error":"HTTPException","detail":"Invalid encoded image","body":"","errors":""}`,
			want:       ErrBadRequest,
			wantKind:   "HTTPException",
			wantDetail: "Invalid encoded image",
		},
		{
			name:       "forge plain detail",
			status:     500,
			body:       `{"detail":"Invalid encoded image"}`,
			want:       ErrBadRequest,
			wantDetail: "Invalid encoded image",
		},
		{
			name:     "unknown upscaler",
			status:   500,
			body:     `{"error":"AssertionError","detail":"","body":"","errors":"could not find upscaler named Foo"}`,
			want:     ErrBadRequest,
			wantKind: "AssertionError",
			wantMsg:  "could not find upscaler named Foo",
		},
		{
			name:     "mask mismatch",
			status:   500,
			body:     `{"error":"ValueError","detail":"","body":"","errors":"images do not match"}`,
			want:     ErrBadRequest,
			wantKind: "ValueError",
			wantMsg:  "images do not match",
		},
		{
			name:       "unauthorized",
			status:     401,
			body:       `{"detail":"Incorrect username or password"}`,
			want:       ErrUnauthorized,
			wantDetail: "Incorrect username or password",
		},
		{
			name:       "route not found",
			status:     404,
			body:       `{"detail":"Not Found"}`,
			want:       ErrNotFound,
			wantDetail: "Not Found",
		},
		{
			name:       "init image not found",
			status:     404,
			body:       `{"detail":"Init image not found"}`,
			want:       ErrBadRequest,
			wantDetail: "Init image not found",
		},
		{
			name:       "422 pydantic v1",
			status:     422,
			body:       `{"detail":[{"loc":["body","steps"],"msg":"value is not a valid integer","type":"type_error.integer"}]}`,
			want:       ErrBadRequest,
			wantIssues: []string{"body.steps: value is not a valid integer"},
		},
		{
			name:       "422 pydantic v2",
			status:     422,
			body:       `{"detail":[{"type":"int_parsing","loc":["body","init_images",0],"msg":"Input should be a valid integer","input":"abc","url":"https://errors.pydantic.dev/2.5/v/int_parsing"}]}`,
			want:       ErrBadRequest,
			wantIssues: []string{"body.init_images.0: Input should be a valid integer"},
		},
		{
			name:       "422 script not found",
			status:     422,
			body:       `{"error":"HTTPException","detail":"Script 'foo' not found","body":"","errors":""}`,
			want:       ErrBadRequest,
			wantKind:   "HTTPException",
			wantDetail: "Script 'foo' not found",
		},
		{
			name:    "proxy html",
			status:  502,
			body:    `<html><body>Bad Gateway</body></html>`,
			want:    ErrBackend,
			wantMsg: `<html><body>Bad Gateway</body></html>`,
		},
		{
			name:    "cloudflare timeout empty",
			status:  524,
			body:    ``,
			want:    ErrBackend,
			wantMsg: "",
		},
	}
	sentinels := []error{ErrOutOfMemory, ErrBadRequest, ErrUnauthorized, ErrBackend, ErrNotFound, ErrUnavailable, ErrTimeout}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := parseAPIError("img2img", tt.status, []byte(tt.body))
			if !errors.Is(e, tt.want) {
				t.Errorf("errors.Is(%v, %v) = false, want true", e, tt.want)
			}
			for _, s := range sentinels {
				if s == tt.want || (tt.want == ErrNotFound && s == ErrBadRequest) {
					continue
				}
				if errors.Is(e, s) {
					t.Errorf("errors.Is(%v, %v) = true, want false", e, s)
				}
			}
			if e.Status != tt.status {
				t.Errorf("Status = %d, want %d", e.Status, tt.status)
			}
			if e.Kind != tt.wantKind {
				t.Errorf("Kind = %q, want %q", e.Kind, tt.wantKind)
			}
			if e.Detail != tt.wantDetail {
				t.Errorf("Detail = %q, want %q", e.Detail, tt.wantDetail)
			}
			if tt.wantMsg != "" && e.Message != tt.wantMsg {
				t.Errorf("Message = %q, want %q", e.Message, tt.wantMsg)
			}
			var got []string
			for _, v := range e.Validation {
				got = append(got, v.String())
			}
			if len(got) != len(tt.wantIssues) {
				t.Fatalf("Validation = %q, want %q", got, tt.wantIssues)
			}
			for i := range got {
				if got[i] != tt.wantIssues[i] {
					t.Errorf("Validation[%d] = %q, want %q", i, got[i], tt.wantIssues[i])
				}
			}
			if e.Error() == "" {
				t.Error("Error() is empty")
			}
		})
	}
}

func TestDecodeImage(t *testing.T) {
	t.Parallel()
	want := []byte{0xfb, 0xff, 0xfe, 0x00, 0x01}
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{name: "plain", in: "+//+AAE="},
		{name: "no padding", in: "+//+AAE"},
		{name: "data uri", in: "data:image/png;base64,+//+AAE="},
		{name: "line breaks", in: "+//+\nAAE=\n"},
		{name: "url safe alphabet", in: "-__-AAE=", wantErr: true},
		{name: "data uri without comma", in: "data:image/png;base64", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeImage(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("decodeImage(%q) = %x, nil; want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeImage(%q): %v", tt.in, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decodeImage(%q) = %x, want %x", tt.in, got, want)
			}
		})
	}
}

func TestResults(t *testing.T) {
	t.Parallel()
	img := func(s string) []byte { return []byte(s) }
	tests := []struct {
		name string
		resp GenerationResponse
		want []string
	}{
		{
			name: "single",
			resp: GenerationResponse{Images: [][]byte{img("a")}, Info: GenerationInfo{Infotexts: []string{"a"}, AllSeeds: []int64{1}}},
			want: []string{"a"},
		},
		{
			name: "grid first",
			resp: GenerationResponse{
				Images: [][]byte{img("grid"), img("a"), img("b")},
				Info:   GenerationInfo{IndexOfFirstImage: 1, Infotexts: []string{"g", "a", "b"}, AllSeeds: []int64{1, 2}},
			},
			want: []string{"a", "b"},
		},
		{
			name: "controlnet maps after",
			resp: GenerationResponse{
				Images: [][]byte{img("a"), img("map")},
				Info:   GenerationInfo{Infotexts: []string{"a"}, AllSeeds: []int64{1}},
			},
			want: []string{"a"},
		},
		{
			name: "seeds only",
			resp: GenerationResponse{
				Images: [][]byte{img("grid"), img("a"), img("b"), img("map")},
				Info:   GenerationInfo{IndexOfFirstImage: 1, AllSeeds: []int64{1, 2}},
			},
			want: []string{"a", "b"},
		},
		{
			name: "interrupted: fewer images than seeds",
			resp: GenerationResponse{
				Images: [][]byte{img("a")},
				Info:   GenerationInfo{AllSeeds: []int64{1, 2, 3}},
			},
			want: []string{"a"},
		},
		{
			name: "no info",
			resp: GenerationResponse{Images: [][]byte{img("a"), img("b")}},
			want: []string{"a", "b"},
		},
		{
			name: "index out of range",
			resp: GenerationResponse{Images: [][]byte{img("a")}, Info: GenerationInfo{IndexOfFirstImage: 5}},
			want: []string{"a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, b := range tt.resp.Results() {
				got = append(got, string(b))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Results() = %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("Results()[%d] = %q, want %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}
