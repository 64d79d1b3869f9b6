package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/manifest"

	"github.com/pictor/pictor/fault"
)

// Manifest uploads are spooled to disk, so their parts may come in any order and nothing
// large stays in memory. The spool is bounded: at most maxSpools uploads at once and
// maxSpoolBytes on disk in all; over either, an upload is answered 503
// manifest-uploads-busy with Retry-After. While it streams, the manifest's format is
// detected from its first bytes and a CSV or JSONL manifest's header and first rows are
// read: a file that is not a manifest stops the upload there, not after 2 GiB.
const (
	maxSpools     = 4
	maxSpoolBytes = 4 << 30
	// spoolRetryAfter is the Retry-After of manifest-uploads-busy, in seconds.
	spoolRetryAfter = "10"
	// headRows is how many rows of a streaming manifest are read before it is spooled on
	// unread: when every one of them is bad, the upload stops.
	headRows = 100
)

// errSpoolBusy is answered 503 manifest-uploads-busy.
var errSpoolBusy = fault.New(fault.Unavailable, "manifest-uploads-busy", "Too many manifest uploads", "too many manifest uploads at once")

// spool counts the uploads being spooled and the bytes they hold.
type spool struct {
	mu       sync.Mutex
	n        int
	bytes    int64
	maxN     int
	maxBytes int64
	// gauge, when set, follows n.
	gauge prometheus.Gauge
}

// acquire takes an upload slot, or fails with errSpoolBusy.
func (sp *spool) acquire() (*spoolSlot, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.maxN == 0 {
		sp.maxN, sp.maxBytes = maxSpools, maxSpoolBytes
	}
	if sp.n >= sp.maxN {
		return nil, fmt.Errorf("%w (%d are being received); retry in a few seconds", errSpoolBusy, sp.n)
	}
	sp.n++
	sp.show()
	return &spoolSlot{sp: sp}, nil
}

// show sets the gauge to n; sp.mu is held.
func (sp *spool) show() {
	if sp.gauge != nil {
		sp.gauge.Set(float64(sp.n))
	}
}

// spoolSlot is one upload's share of the spool.
type spoolSlot struct {
	sp    *spool
	bytes int64
}

// grow reserves n more bytes, or fails with errSpoolBusy when the spool is full.
func (s *spoolSlot) grow(n int64) error {
	s.sp.mu.Lock()
	defer s.sp.mu.Unlock()
	if s.sp.bytes+n > s.sp.maxBytes {
		return fmt.Errorf("%w: the manifest spool holds %d MiB, its limit", errSpoolBusy, s.sp.maxBytes>>20)
	}
	s.sp.bytes += n
	s.bytes += n
	return nil
}

// release gives the slot and its bytes back.
func (s *spoolSlot) release() {
	s.sp.mu.Lock()
	defer s.sp.mu.Unlock()
	s.sp.n--
	s.sp.show()
	s.sp.bytes -= s.bytes
	s.bytes = 0
}

// slotWriter writes to a spool file, reserving spool bytes as it goes.
type slotWriter struct {
	slot *spoolSlot
	f    *os.File
}

func (w slotWriter) Write(p []byte) (int, error) {
	if err := w.slot.grow(int64(len(p))); err != nil {
		return 0, err
	}
	return w.f.Write(p)
}

// errHeadRead stops the head check once it has read enough rows.
var errHeadRead = errors.New("head of the manifest read")

// headCheck reads a streaming CSV or JSONL manifest's header and first headRows rows in
// a goroutine, from what is written to it; then it takes the rest unread. Err tells
// whether the head was bad.
type headCheck struct {
	pw   *io.PipeWriter
	done chan error
	over bool  // the check has finished: writes are dropped
	err  error // what the check found, once over
}

// newHeadCheck starts checking a manifest of format f; nil for formats that cannot be
// read from the front (XLSX, a zip).
func newHeadCheck(ctx context.Context, f manifest.Format) *headCheck {
	if f != manifest.CSV && f != manifest.JSONL {
		return nil
	}
	pr, pw := io.Pipe()
	h := &headCheck{pw: pw, done: make(chan error, 1)}
	go func() {
		var first error
		good, bad := 0, 0
		_, _, err := manifest.Read(ctx, pr, f, manifest.DefaultLimits(), func(manifest.Row) error {
			if good++; good+bad >= headRows {
				return errHeadRead
			}
			return nil
		}, func(re manifest.RowError) error {
			if first == nil {
				first = re
			}
			if bad++; good+bad >= headRows {
				return errHeadRead
			}
			return nil
		})
		if errors.Is(err, errHeadRead) || errors.Is(err, io.ErrClosedPipe) {
			err = nil
		}
		if err == nil && good == 0 && bad >= headRows {
			err = fmt.Errorf("%w: the first %d rows are all bad, the first: %v", manifest.ErrInvalidManifest, bad, first)
		}
		pr.CloseWithError(errHeadRead)
		h.done <- err
	}()
	return h
}

// Write feeds the check until it is over; it fails only with what the check found.
func (h *headCheck) Write(p []byte) (int, error) {
	if h.over {
		return len(p), nil
	}
	if _, err := h.pw.Write(p); err != nil {
		h.finish()
		return len(p), h.err
	}
	return len(p), nil
}

// finish ends the check (the manifest is all written, or the check stopped reading) and
// returns what it found.
func (h *headCheck) finish() error {
	if !h.over {
		h.pw.Close()
		h.err = <-h.done
		h.over = true
	}
	return h.err
}

// spoolManifest copies a manifest part to a new temporary file under slot, checking its
// head while it streams. The file is returned, read from its start, for the caller to
// remove, also with an error. The check needs the manifest's format, so it is detected
// here from the first bytes too (manifest.Detect, as jobs does again to read the file):
// a file that is no manifest is refused before it is received whole.
func (s *server) spoolManifest(ctx context.Context, slot *spoolSlot, p io.Reader, name, contentType string) (*os.File, error) {
	head := make([]byte, 512)
	n, err := io.ReadFull(p, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: reading the manifest: %s", catalog.ErrInvalid, err)
	}
	head = head[:n]
	f, err := manifest.Detect(name, contentType, head)
	if err != nil {
		return nil, err
	}
	file, err := os.CreateTemp("", "pictor-manifest-*")
	if err != nil {
		return nil, err
	}
	var w io.Writer = slotWriter{slot: slot, f: file}
	check := newHeadCheck(ctx, f)
	if check != nil {
		defer check.finish()
		w = io.MultiWriter(w, check)
	}
	if _, err := w.Write(head); err != nil {
		return file, err
	}
	if _, err := io.Copy(w, p); err != nil {
		return file, err
	}
	if check != nil {
		if err := check.finish(); err != nil {
			return file, err
		}
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return file, err
	}
	return file, nil
}
