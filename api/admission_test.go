package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/internal/waitfor"
)

// watchedBody is a request body that records whether anyone read it.
type watchedBody struct {
	r    io.Reader
	read atomic.Bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.r.Read(p)
}

// An upload waits for its bytes to be admitted before a byte of it is read: with the memory
// budget taken, the body stays unread (the request holds no source) until the budget frees;
// the ingest is then told the bytes are admitted, and the reservation is given back after.
func TestUploadAdmittedBeforeRead(t *testing.T) {
	t.Parallel()
	gate := imaging.NewGate(2, 8)
	gate.SetMemory(1 << 20)
	fc := okCatalog()
	fc.gate = gate
	var admitted atomic.Bool
	fc.ingest = func(_ context.Context, req catalog.IngestRequest) (*catalog.IngestResult, error) {
		admitted.Store(req.Admitted)
		if _, reserved := gate.Memory(); reserved != int64(len(req.Data)) {
			t.Errorf("during the ingest %d bytes are reserved, want the upload's %d", reserved, len(req.Data))
		}
		return &catalog.IngestResult{Image: catalog.Image{ID: "img_up"}}, nil
	}
	b := setup(t, fc, nil)
	hold, err := gate.Reserve(context.Background(), 1<<20) // the whole budget
	if err != nil {
		t.Fatal(err)
	}
	body := &watchedBody{r: strings.NewReader(strings.Repeat("x", 4096))}
	req := httptest.NewRequest(http.MethodPost, "/v1/images?sku=U1", body)
	req.Header.Set("Content-Type", "image/jpeg")
	req.ContentLength = 4096
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		rec := httptest.NewRecorder()
		b.h.ServeHTTP(rec, req)
		done <- rec
	}()
	waitfor.Cond(t, 10*time.Second, func() bool { return gate.WaitingBytes() == 1 }, "the upload to wait for its bytes")
	if body.read.Load() {
		t.Fatal("the body was read before its bytes were admitted")
	}
	hold.Release()
	var rec *httptest.ResponseRecorder
	select {
	case rec = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the upload did not go on once the budget freed")
	}
	if rec.Code != http.StatusCreated || !body.read.Load() || !admitted.Load() {
		t.Fatalf("answer %d %s, read %v, admitted %v; want 201 after reading an admitted body", rec.Code, rec.Body, body.read.Load(), admitted.Load())
	}
	if _, reserved := gate.Memory(); reserved != 0 {
		t.Errorf("%d bytes still reserved after the request, want 0", reserved)
	}
}
