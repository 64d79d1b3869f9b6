package safety

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Verdict is the classifier's answer for one image.
type Verdict struct {
	// Flagged is the server's verdict: true means the image must not be
	// published without a human looking at it.
	Flagged bool
	// Categories are the per-category scores in 0..1 the server reported,
	// e.g. "sexual": 0.97. They are informative; Flagged decides. Nil when
	// the server sent none.
	Categories map[string]float64
	// Model names the classifier and its version, as the server reported
	// it; "" when it did not.
	Model string
}

// Client calls one classifier. It is safe for concurrent use.
type Client struct {
	cfg         Config
	hc          *http.Client
	classifyURL string
	healthURL   string
}

const (
	opClassify = "classify"
	opHealth   = "health"
)

// New returns a Client for cfg, after cfg.Validate. A nil hc means a new
// http.Client with cfg.Timeout that does not follow redirects (a 3xx is then
// an ErrProtocol). Every call is bounded by cfg.Timeout whichever client is
// used.
func New(cfg Config, hc *http.Client) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new safety client: %w", err)
	}
	cfg = cfg.withDefaults()
	if hc == nil {
		hc = &http.Client{
			Timeout: cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	base := strings.TrimRight(cfg.URL, "/")
	return &Client{
		cfg:         cfg,
		hc:          hc,
		classifyURL: base + "/v1/classify",
		healthURL:   base + "/v1/health",
	}, nil
}

// Classify asks the classifier about one image (PNG, JPEG or WebP bytes).
// id is an opaque reference for the server's logs, at most MaxIDBytes of
// UTF-8; "" sends none. A nil error means the server gave a verdict that
// follows the contract; on error the Verdict is zero and the image must be
// treated as not classified.
func (c *Client) Classify(ctx context.Context, image []byte, id string) (Verdict, error) {
	switch {
	case len(image) == 0:
		return Verdict{}, fmt.Errorf("safety classify: %w: empty image not sent", ErrRejected)
	case int64(len(image)) > c.cfg.MaxImageBytes:
		return Verdict{}, fmt.Errorf("safety classify: %w: image of %d bytes is over the %d byte limit, not sent", ErrRejected, len(image), c.cfg.MaxImageBytes)
	case len(id) > MaxIDBytes:
		return Verdict{}, fmt.Errorf("safety classify: %w: id of %d bytes is over the %d byte limit, not sent", ErrRejected, len(id), MaxIDBytes)
	case !utf8.ValidString(id):
		return Verdict{}, fmt.Errorf("safety classify: %w: id is not valid UTF-8, not sent", ErrRejected)
	}
	status, body, err := c.do(ctx, opClassify, http.MethodPost, c.classifyURL, requestBody(image, id))
	if err != nil {
		return Verdict{}, err
	}
	if status != http.StatusOK {
		return Verdict{}, &StatusError{Op: opClassify, StatusCode: status, Message: errorText(body)}
	}
	v, err := parseVerdict(body)
	if err != nil {
		return Verdict{}, fmt.Errorf("safety classify: %w: %w (body %q)", ErrProtocol, err, clip(string(body)))
	}
	return v, nil
}

// Health asks the classifier whether it is ready: nil when it answers 200
// {"status": "ok", ...}. Errors match the same sentinels as Classify's,
// except that no status maps to ErrRejected.
func (c *Client) Health(ctx context.Context) error {
	status, body, err := c.do(ctx, opHealth, http.MethodGet, c.healthURL, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return &StatusError{Op: opHealth, StatusCode: status, Message: errorText(body)}
	}
	if err := parseHealth(body); err != nil {
		return fmt.Errorf("safety health: %w: %w (body %q)", ErrProtocol, err, clip(string(body)))
	}
	return nil
}

// do sends one request within cfg.Timeout and returns the status and at
// most MaxResponseBytes+1 bytes of the body. Transport failures are
// ErrUnavailable.
func (c *Client) do(ctx context.Context, op, method, url string, body []byte) (int, []byte, error) {
	callCtx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(callCtx, method, url, rd)
	if err != nil {
		// The URL was validated; only a bad method could get here.
		return 0, nil, fmt.Errorf("safety %s: %w: %w", op, ErrUnavailable, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, c.unavailable(ctx, op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return 0, nil, c.unavailable(ctx, op, fmt.Errorf("read %d response: %w", resp.StatusCode, err))
	}
	return resp.StatusCode, data, nil
}

// unavailable wraps a transport error. When the caller's context ended it
// is wrapped too, so errors.Is(err, context.Canceled) tells a shutdown from
// a dead server.
func (c *Client) unavailable(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("safety %s: %w: %w (%w)", op, ErrUnavailable, cerr, err)
	}
	var te interface{ Timeout() bool }
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &te) && te.Timeout()) {
		return fmt.Errorf("safety %s: %w: no answer within %s: %w", op, ErrUnavailable, c.cfg.Timeout, err)
	}
	return fmt.Errorf("safety %s: %w: %w", op, ErrUnavailable, err)
}

// requestBody encodes {"image": "<base64>", "id": "<id>"} without a second
// copy of the image.
func requestBody(image []byte, id string) []byte {
	var idJSON []byte
	if id != "" {
		idJSON, _ = json.Marshal(id) // a string always marshals
	}
	const head, mid = `{"image":"`, `,"id":`
	buf := make([]byte, 0, len(head)+base64.StdEncoding.EncodedLen(len(image))+len(mid)+len(idJSON)+2)
	buf = append(buf, head...)
	buf = base64.StdEncoding.AppendEncode(buf, image)
	buf = append(buf, '"')
	if idJSON != nil {
		buf = append(buf, mid...)
		buf = append(buf, idJSON...)
	}
	return append(buf, '}')
}

// parseVerdict decodes a 200 classify body. Keys are matched exactly (not
// case-insensitively as encoding/json would); unknown keys are ignored so
// that servers may add fields.
func parseVerdict(body []byte) (Verdict, error) {
	if len(body) > MaxResponseBytes {
		return Verdict{}, fmt.Errorf("response is over %d bytes", MaxResponseBytes)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return Verdict{}, fmt.Errorf("response is not a JSON object")
	}
	var v Verdict
	raw, ok := obj["flagged"]
	if !ok || bytes.Equal(raw, []byte("null")) {
		return Verdict{}, fmt.Errorf(`response has no "flagged"`)
	}
	if err := json.Unmarshal(raw, &v.Flagged); err != nil {
		return Verdict{}, fmt.Errorf(`"flagged" is %s, want true or false`, clip(string(raw)))
	}
	if raw, ok := obj["categories"]; ok && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, &v.Categories); err != nil || v.Categories == nil {
			return Verdict{}, fmt.Errorf(`"categories" is not an object of numbers`)
		}
		for name, score := range v.Categories {
			if math.IsNaN(score) || score < 0 || score > 1 {
				return Verdict{}, fmt.Errorf("category %q score %v is outside 0..1", clip(name), score)
			}
		}
	}
	if raw, ok := obj["model"]; ok && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, &v.Model); err != nil {
			return Verdict{}, fmt.Errorf(`"model" is not a string`)
		}
	}
	return v, nil
}

// parseHealth checks a 200 health body: a JSON object with "status": "ok".
func parseHealth(body []byte) error {
	if len(body) > MaxResponseBytes {
		return fmt.Errorf("response is over %d bytes", MaxResponseBytes)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return fmt.Errorf("response is not a JSON object")
	}
	var status string
	if err := json.Unmarshal(obj["status"], &status); err != nil || status != "ok" {
		return fmt.Errorf(`"status" is not "ok"`)
	}
	return nil
}
