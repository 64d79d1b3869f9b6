package sdclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxResponseBytes bounds a response body: a 4x upscale of a large image
// is tens of megabytes of base64, a batch of generations a few times that.
const maxResponseBytes = 1 << 30

// maxErrorBodyBytes bounds the part of an error body that is read.
const maxErrorBodyBytes = 64 << 10

// endpoint is one WebUI route this package calls.
type endpoint int

// The routes this package calls.
const (
	epTxt2Img endpoint = iota
	epImg2Img
	epExtras
	epUpscalers
	epSDModels
	epSamplers
	epProgress
	epInterrupt
	epMemory
	epRembg
	epSAMPredict
	epTaskProgress
	epSchedulers
	epSDModules
	// The standalone rembg server's routes (KindRembg).
	epRembgRemove
	epRembgOpenAPI
)

// route is what is known about an endpoint.
type route struct {
	// name is the metrics label and the name used in errors.
	name   string
	method string
	path   string
	// work marks calls that occupy the GPU; their wall time is counted as
	// GPU-seconds.
	work bool
	// interruptible marks calls that POST /sdapi/v1/interrupt stops.
	interruptible bool
}

func (e endpoint) route() route {
	switch e {
	case epTxt2Img:
		return route{"txt2img", http.MethodPost, "/sdapi/v1/txt2img", true, true}
	case epImg2Img:
		return route{"img2img", http.MethodPost, "/sdapi/v1/img2img", true, true}
	case epExtras:
		return route{"extra-single-image", http.MethodPost, "/sdapi/v1/extra-single-image", true, true}
	case epUpscalers:
		return route{"upscalers", http.MethodGet, "/sdapi/v1/upscalers", false, false}
	case epSDModels:
		return route{"sd-models", http.MethodGet, "/sdapi/v1/sd-models", false, false}
	case epSamplers:
		return route{"samplers", http.MethodGet, "/sdapi/v1/samplers", false, false}
	case epProgress:
		return route{"progress", http.MethodGet, "/sdapi/v1/progress", false, false}
	case epInterrupt:
		return route{"interrupt", http.MethodPost, "/sdapi/v1/interrupt", false, false}
	case epMemory:
		return route{"memory", http.MethodGet, "/sdapi/v1/memory", false, false}
	case epRembg:
		return route{"rembg", http.MethodPost, "/rembg", true, false}
	case epSAMPredict:
		return route{"sam-predict", http.MethodPost, "/sam/sam-predict", true, false}
	case epTaskProgress:
		return route{"internal-progress", http.MethodPost, "/internal/progress", false, false}
	case epSchedulers:
		return route{"schedulers", http.MethodGet, "/sdapi/v1/schedulers", false, false}
	case epSDModules:
		return route{"sd-modules", http.MethodGet, "/sdapi/v1/sd-modules", false, false}
	case epRembgRemove:
		return route{"rembg-remove", http.MethodPost, "/api/remove", true, false}
	case epRembgOpenAPI:
		return route{"rembg-openapi", http.MethodGet, "/openapi.json", false, false}
	}
	return route{name: "unknown", method: http.MethodGet, path: "/"}
}

func (e endpoint) name() string { return e.route().name }

// kind is the kind of backend that serves e.
func (e endpoint) kind() Kind {
	switch e {
	case epRembgRemove, epRembgOpenAPI:
		return KindRembg
	}
	return KindWebUI
}

// observer is told about every HTTP call a Client makes. The Pool uses it
// for metrics, GPU-seconds and to know which generations of its own (by
// their task id, "" for calls without one) may still run on the backend.
type observer interface {
	callStarted(ep endpoint, task string)
	callEnded(ep endpoint, task string, d time.Duration, err error)
}

// Client calls one backend: a WebUI (NewClient) or a standalone rembg
// server (NewRembgClient). Calling a route of the other kind fails with
// ErrBadRequest and sends nothing. It is safe for concurrent use, but the
// WebUI runs one generation at a time: use a Pool to keep one call in flight
// per backend.
type Client struct {
	backend Backend
	kind    Kind
	base    string
	err     error
	hc      *http.Client
	names   *nameCache
	obs     observer
}

// NewClient returns a Client for b. hc may be nil: the default is a client
// with a 10 s connect timeout and no overall timeout, because generations
// take minutes (pass a context deadline instead). Credentials in b.URL are
// used when b.User and b.Password are empty. A Backend whose URL does not
// parse gives a Client whose every call fails with ErrInvalidBackend.
func NewClient(b Backend, hc *http.Client) *Client {
	return newClient(b, hc, KindWebUI)
}

// newClient returns a Client for a backend of kind k.
func newClient(b Backend, hc *http.Client, k Kind) *Client {
	if hc == nil {
		hc = newHTTPClient()
	}
	c := &Client{hc: hc, kind: k, names: newNameCache()}
	parsed, err := ParseBackend(b.URL)
	if err != nil {
		c.backend = Backend{URL: redact(b.URL)}
		c.err = err
		return c
	}
	if b.User != "" || b.Password != "" {
		parsed.User, parsed.Password = b.User, b.Password
	}
	c.backend = parsed
	c.base = parsed.URL
	return c
}

// newHTTPClient builds the default transport: bounded dialing and TLS, no
// limit on how long the server may take to answer.
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.MaxIdleConnsPerHost = 4
	return &http.Client{Transport: t}
}

// Backend returns the backend this Client talks to.
func (c *Client) Backend() Backend { return c.backend }

// withObserver returns a shallow copy of c that reports its calls to o. The
// copy shares the name cache and the HTTP client.
func (c *Client) withObserver(o observer) *Client {
	cp := *c
	cp.obs = o
	return &cp
}

// call sends in (JSON, unless nil) to ep and decodes the response into out
// (unless nil).
func (c *Client) call(ctx context.Context, ep endpoint, query url.Values, in, out any) error {
	var body io.Reader
	contentType := ""
	if in != nil {
		buf, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("sd %s: encode request: %w", ep.name(), err)
		}
		body, contentType = bytes.NewReader(buf), "application/json"
	}
	return c.send(ctx, ep, query, taskOf(in), body, contentType, "application/json", func(r io.Reader) error {
		if out == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(r, maxErrorBodyBytes))
			return nil
		}
		return json.NewDecoder(r).Decode(out)
	})
}

// send sends body (of contentType; none when nil) to ep and hands a 2xx
// response body, bounded at maxResponseBytes, to read. task is the
// request's force_task_id, "" without one. Other statuses become an
// *APIError; a read error is classified by decodeError.
func (c *Client) send(ctx context.Context, ep endpoint, query url.Values, task string, body io.Reader, contentType, accept string, read func(io.Reader) error) (err error) {
	if c.err != nil {
		return c.err
	}
	rt := ep.route()
	if k := ep.kind(); k != c.kind {
		return fmt.Errorf("sd %s: %w: a %s backend has no %s route (it is a %s route)", rt.name, ErrBadRequest, c.kind, rt.path, k)
	}
	u := c.base + rt.path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, rt.method, u, body)
	if err != nil {
		return fmt.Errorf("sd %s: %w: %w", rt.name, ErrInvalidBackend, err)
	}
	req.Header.Set("Accept", accept)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.backend.User != "" || c.backend.Password != "" {
		req.SetBasicAuth(c.backend.User, c.backend.Password)
	}
	if c.obs != nil {
		c.obs.callStarted(ep, task)
		start := time.Now()
		defer func() { c.obs.callEnded(ep, task, time.Since(start), err) }()
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return transportError(ctx, ep, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
		if rerr != nil && ctx.Err() != nil {
			return fmt.Errorf("sd %s: %w", rt.name, ctx.Err())
		}
		return parseAPIError(rt.name, resp.StatusCode, b)
	}
	if err := read(&limitedReader{r: resp.Body, n: maxResponseBytes}); err != nil {
		return decodeError(ctx, ep, err)
	}
	return nil
}

// taskOf is the force_task_id of a request body, or "".
func taskOf(in any) string {
	m, _ := in.(map[string]any)
	task, _ := m["force_task_id"].(string)
	return task
}

// transportError classifies a failed round trip.
func transportError(ctx context.Context, ep endpoint, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("sd %s: %w", ep.name(), ctx.Err())
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("sd %s: %w: %w", ep.name(), ErrTimeout, err)
	}
	return fmt.Errorf("sd %s: %w: %w", ep.name(), ErrUnavailable, err)
}

// decodeError classifies a failure to read or decode a 2xx response.
func decodeError(ctx context.Context, ep endpoint, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("sd %s: %w", ep.name(), ctx.Err())
	}
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		img *imageDecodeError
	)
	switch {
	case errors.As(err, &syn), errors.As(err, &typ), errors.As(err, &img), errors.Is(err, errResponseTooLarge), errors.Is(err, io.EOF):
		return fmt.Errorf("sd %s: decode response: %w: %w", ep.name(), ErrBackend, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("sd %s: read response: %w: %w", ep.name(), ErrTimeout, err)
	}
	return fmt.Errorf("sd %s: read response: %w: %w", ep.name(), ErrUnavailable, err)
}

var errResponseTooLarge = fmt.Errorf("response larger than %d bytes", maxResponseBytes)

// limitedReader fails, rather than ending early, past n bytes.
type limitedReader struct {
	r io.Reader
	n int64
}

// Read reads from the underlying reader, failing past the limit.
func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errResponseTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// encodeImage encodes image bytes the way the WebUI expects them: standard
// base64 alphabet with padding, no data: prefix.
func encodeImage(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// imageDecodeError is a base64 image in a response that does not decode.
type imageDecodeError struct{ err error }

// Error describes the failure.
func (e *imageDecodeError) Error() string { return "decode base64 image: " + e.err.Error() }

// Unwrap returns the base64 error.
func (e *imageDecodeError) Unwrap() error { return e.err }

// decodeImage decodes a base64 image from a response: plain base64 as the
// WebUI sends it, or a data: URI; missing padding and line breaks are
// tolerated.
func decodeImage(s string) ([]byte, error) {
	if strings.HasPrefix(s, "data:") {
		i := strings.IndexByte(s, ',')
		if i < 0 {
			return nil, &imageDecodeError{errors.New("data uri without a comma")}
		}
		s = s[i+1:]
	}
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\n', '\r', '\t':
			return -1
		}
		return r
	}, s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err == nil {
		return b, nil
	}
	if b2, err2 := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err2 == nil {
		return b2, nil
	}
	return nil, &imageDecodeError{err}
}

// b64Image is a response field holding a base64 image; JSON null and ""
// decode to nil.
type b64Image []byte

// UnmarshalJSON decodes a base64 string, with or without a data: prefix.
func (b *b64Image) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		*b = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	if s == "" {
		*b = nil
		return nil
	}
	img, err := decodeImage(s)
	if err != nil {
		return err
	}
	*b = img
	return nil
}

// imageList converts decoded response images to plain byte slices.
func imageList(in []b64Image) [][]byte {
	if in == nil {
		return nil
	}
	out := make([][]byte, len(in))
	for i, b := range in {
		out[i] = b
	}
	return out
}
