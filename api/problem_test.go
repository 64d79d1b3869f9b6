package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/pipeline"
	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/storage"
)

// TestErrorTable drives every row of the error -> status table through a real route: the
// catalog fails GET /v1/images/{id} with the error, wrapped as the catalog wraps leaf errors.
func TestErrorTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		status     int
		slug       string
		wantDetail string // substring of the detail; "" skips
		hideDetail string // must not appear in the detail; "" skips
	}{
		{"invalid recipe", pipeline.ErrInvalidRecipe, 400, "invalid-recipe", "invalid recipe", ""},
		{"recipe validation error", &pipeline.ValidationError{Errors: []pipeline.FieldError{{Field: "steps[0].op", Message: "unknown"}}}, 400, "invalid-recipe", "steps[0].op: unknown", ""},
		{"catalog invalid", catalog.ErrInvalid, 400, "invalid-request", "invalid request", ""},
		{"malformed json", errMalformedJSON, 400, "malformed-json", "", ""},
		{"not found", catalog.ErrNotFound, 404, "not-found", "not found", ""},
		{"idempotency mismatch", catalog.ErrIdempotencyMismatch, 422, "idempotency-mismatch", "", ""},
		{"too many pixels", imaging.ErrTooManyPixels, 422, "too-many-pixels", "too many pixels", ""},
		{"corrupt", imaging.ErrCorrupt, 422, "undecodable-image", "", ""},
		{"unsupported format", imaging.ErrUnsupportedFormat, 415, "unsupported-format", "", ""},
		{"invalid option", imaging.ErrInvalidOption, 400, "invalid-option", "", ""},
		{"busy", imaging.ErrBusy, 429, "busy", "", ""},
		{"shutting down", fmt.Errorf("gate: %w", imaging.ErrClosed), 503, "shutting-down", "", ""},
		{"bad url", fetch.ErrBadURL, 400, "bad-url", "bad url", ""},
		{"blocked", &fetch.BlockedError{Addr: netip.MustParseAddr("10.1.2.3")}, 422, "source-address-blocked", "non-public", "10.1.2.3"},
		{"source too large", fetch.ErrTooLarge, 413, "source-too-large", "", ""},
		{"body too large", &http.MaxBytesError{Limit: 10}, 413, "body-too-large", "", ""},
		{"too many redirects", fetch.ErrTooManyRedirects, 422, "too-many-redirects", "", ""},
		{"upstream status", &fetch.StatusError{StatusCode: 404}, 422, "source-fetch-failed", "status 404", ""},
		{"upstream connection", fmt.Errorf("dial 93.184.216.34:443: connection refused: %w", fetch.ErrUpstream), 422, "source-fetch-failed", "could not be reached", "93.184"},
		{"fetch timeout", fetch.ErrTimeout, 504, "source-timeout", "", ""},
		{"storage unavailable", storage.ErrUnavailable, 503, "storage-unavailable", "", ""},
		{"database unavailable", catalog.ErrUnavailable, 503, "database-unavailable", "request_id", "get image x"},
		{"database unavailable hides host", fmt.Errorf("dial tcp db.internal:5432: %w", catalog.ErrUnavailable), 503, "database-unavailable", "unavailable", "db.internal"},
		{"storage unavailable hides endpoint", fmt.Errorf("minio.internal:9000: %w", storage.ErrUnavailable), 503, "storage-unavailable", "request_id", "minio.internal"},
		{"sd backend hides url", fmt.Errorf("http://gpu-7:7860: %w", sdclient.ErrBackend), 502, "sd-backend-error", "request_id", "gpu-7"},
		{"sd required", catalog.ErrSDRequired, 503, "sd-backend-required", "PICTOR_SD_URLS", ""},
		{"pipeline sd required", pipeline.ErrSDRequired, 503, "sd-backend-required", "PICTOR_SD_URLS", ""},
		{"not implemented", catalog.ErrNotImplemented, 501, "not-implemented", "", ""},
		{"pipeline not implemented", pipeline.ErrNotImplemented, 501, "not-implemented", "", ""},
		{"deadline", context.DeadlineExceeded, 504, "timeout", "", ""},
		{"anything else", errors.New("pq: password authentication failed for secret-host"), 500, "internal", "request_id", "secret-host"},
		{"fetch timeout wins over deadline", fmt.Errorf("%w: %w", fetch.ErrTimeout, context.DeadlineExceeded), 504, "source-timeout", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wrapped := fmt.Errorf("get image x: %w", tt.err)
			b := setup(t, &fakeCatalog{getImage: func(context.Context, string) (catalog.Image, error) {
				return catalog.Image{}, wrapped
			}}, nil)
			rec := b.do(t, http.MethodGet, "/v1/images/x", nil, nil)
			p := wantProblem(t, rec, tt.status, tt.slug)
			if tt.wantDetail != "" && !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("detail: got %q, want it to contain %q", p.Detail, tt.wantDetail)
			}
			if tt.hideDetail != "" && strings.Contains(p.Detail, tt.hideDetail) {
				t.Errorf("detail: got %q, want it not to contain %q", p.Detail, tt.hideDetail)
			}
			wantRetry := ""
			if tt.slug == "busy" || tt.slug == "shutting-down" {
				wantRetry = "1"
			}
			if got := rec.Header().Get("Retry-After"); got != wantRetry {
				t.Errorf("Retry-After: got %q, want %q", got, wantRetry)
			}
			logged := strings.Contains(b.logs.String(), "request failed")
			if want := tt.status >= 500; logged != want {
				t.Errorf("error logged: got %v, want %v (logs %s)", logged, want, b.logs.String())
			}
			if tt.status == http.StatusInternalServerError && !strings.Contains(b.logs.String(), "secret-host") {
				t.Errorf("logs: got %s, want the internal error text", b.logs.String())
			}
		})
	}
}

func TestValidationErrorFields(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("put recipe a: %w", &pipeline.ValidationError{Errors: []pipeline.FieldError{
		{Field: "steps[1].width", Message: "must be at most 16384"},
		{Field: "", Message: "body is empty"},
	}})
	p := problemFor(err)
	want := []FieldError{{Field: "steps[1].width", Message: "must be at most 16384"}, {Field: "", Message: "body is empty"}}
	if len(p.Errors) != len(want) {
		t.Fatalf("errors: got %+v, want %+v", p.Errors, want)
	}
	for i := range want {
		if p.Errors[i] != want[i] {
			t.Errorf("errors[%d]: got %+v, want %+v", i, p.Errors[i], want[i])
		}
	}
	if p := problemFor(pipeline.ErrInvalidRecipe); p.Errors != nil {
		t.Errorf("errors of a bare ErrInvalidRecipe: got %+v, want none", p.Errors)
	}
}

func TestClientCancelIsNotAnError(t *testing.T) {
	t.Parallel()
	b := setup(t, &fakeCatalog{getImage: func(context.Context, string) (catalog.Image, error) {
		return catalog.Image{}, fmt.Errorf("query: %w", context.Canceled)
	}}, nil)
	rec := b.do(t, http.MethodGet, "/v1/images/x", nil, nil)
	if rec.Code != statusClientClosedRequest {
		t.Fatalf("status: got %d, want %d", rec.Code, statusClientClosedRequest)
	}
	if logs := b.logs.String(); strings.Contains(logs, "request failed") {
		t.Errorf("logs: got %s, want no error record for a cancelled request", logs)
	}
}
