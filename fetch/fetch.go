// Package fetch downloads source images from URLs that strangers control, without letting
// them reach private networks: every dialled address is checked after DNS, on every
// connection and redirect hop, and downloads are bounded in bytes, time and redirects.
package fetch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"
)

const (
	// acceptHeader is sent with every request: images first, anything else accepted.
	acceptHeader = "image/avif,image/webp,image/png,image/jpeg,image/*;q=0.9,*/*;q=0.5"
	// maxResponseHeaderBytes bounds the response headers of each request.
	maxResponseHeaderBytes = 64 << 10
	// maxErrorDrain is how much of a non-2xx body is read to let the connection be reused.
	maxErrorDrain = 4 << 10
	// initialBodyBuffer is the starting buffer when the length is not announced.
	initialBodyBuffer = 64 << 10
)

// Fetcher fetches source images over HTTP and HTTPS. It is safe for concurrent use.
type Fetcher struct {
	cfg       Config
	allowed   []netip.Prefix
	dialer    *net.Dialer
	transport *http.Transport
	client    *http.Client
	// lookup resolves host names; tests replace it with a fake resolver.
	lookup lookupFunc
}

// Result is a fetched body.
type Result struct {
	// Body is the whole response body, at most Config.MaxBytes long.
	Body []byte
	// ContentType is the response's Content-Type header as sent; it is not trusted or sniffed.
	ContentType string
	// FinalURL is the URL the body came from, after redirects.
	FinalURL string
}

// New returns a Fetcher for cfg, which must pass Validate. Proxy settings in the environment
// are ignored.
func New(cfg Config) (*Fetcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new fetcher: %w", err)
	}
	f := &Fetcher{cfg: cfg}
	for _, p := range cfg.AllowedNets {
		f.allowed = append(f.allowed, normalizeNet(p))
	}
	f.cfg.AllowedNets = append([]netip.Prefix(nil), cfg.AllowedNets...)
	resolver := &net.Resolver{}
	f.lookup = resolver.LookupNetIP
	f.dialer = &net.Dialer{
		KeepAlive: 30 * time.Second,
		Control:   f.control,
	}
	f.transport = &http.Transport{
		Proxy:                  nil,
		DialContext:            f.dialContext,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           32,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		DisableCompression:     true,
	}
	f.client = &http.Client{
		Transport:     f.transport,
		CheckRedirect: f.checkRedirect,
	}
	return f, nil
}

// CloseIdleConnections closes connections kept alive from earlier fetches.
func (f *Fetcher) CloseIdleConnections() { f.transport.CloseIdleConnections() }

// Fetch GETs rawURL and returns its body. Errors wrap ErrBadURL, ErrBlocked (as a
// *BlockedError when an address was refused), ErrTooLarge, ErrTooManyRedirects, ErrTimeout,
// ErrUpstream (as a *StatusError for a non-2xx answer), or ctx's error when ctx is cancelled.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) (*Result, error) {
	return f.FetchAdmitted(ctx, rawURL, nil)
}

// FetchAdmitted is Fetch that asks admit, once a 2xx answer's headers have come and before
// a byte of its body is read, whether the body may be read now: admit gets the announced
// length (-1 when the answer announces none; never over Config.MaxBytes) and may wait, on
// ctx, for room to hold it. Its error ends the fetch and is returned as it is. The time
// admit waits does not count toward Config.Timeout. A nil admit admits at once.
func (f *Fetcher) FetchAdmitted(ctx context.Context, rawURL string, admit func(ctx context.Context, size int64) error) (*Result, error) {
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	left := f.cfg.Timeout
	start := time.Now()
	timer := time.AfterFunc(left, func() { cancel(errTimedOut) })
	defer func() { timer.Stop() }()
	resp, where, err := f.get(fctx, rawURL, f.cfg.MaxBytes)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	// The clock stops while admit waits. Had it run out already (between the headers and
	// here), the fetch ends now rather than trusting the read to fail: a fetch that
	// succeeds has always been admitted, so callers can settle what admit reserved.
	if admit != nil {
		if !timer.Stop() {
			return nil, fmt.Errorf("fetch %s: before the body: %w", where, ErrTimeout)
		}
		left -= time.Since(start)
		if err := admit(ctx, resp.ContentLength); err != nil {
			return nil, err
		}
		timer = time.AfterFunc(max(left, 0), func() { cancel(errTimedOut) })
	}
	body, err := readBody(resp.Body, resp.ContentLength, f.cfg.MaxBytes)
	if err != nil {
		if !errors.Is(err, ErrTooLarge) {
			err = classify(fctx, err)
		}
		return nil, fmt.Errorf("fetch %s: read body: %w", where, err)
	}
	return &Result{
		Body:        body,
		ContentType: resp.Header.Get("Content-Type"),
		FinalURL:    resp.Request.URL.String(),
	}, nil
}

// errTimedOut is the cause a fetch's own context is cancelled with when Config.Timeout
// runs out.
var errTimedOut = errors.New("time limit reached")

// Download GETs rawURL like Fetch and copies the body to w instead of holding it: for large
// documents such as batch manifests. maxBytes and timeout replace the Config's MaxBytes and
// Timeout for this call (each must be positive). It returns the Content-Type as sent and
// the bytes written; errors are Fetch's.
func (f *Fetcher) Download(ctx context.Context, rawURL string, w io.Writer, maxBytes int64, timeout time.Duration) (string, int64, error) {
	if maxBytes <= 0 || timeout <= 0 {
		return "", 0, fmt.Errorf("download: max bytes %d and timeout %v must be positive", maxBytes, timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, where, err := f.get(ctx, rawURL, maxBytes)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, io.LimitReader(resp.Body, maxBytes+1))
	switch {
	case err != nil:
		return "", n, fmt.Errorf("download %s: read body: %w", where, classify(ctx, err))
	case n > maxBytes:
		return "", n, fmt.Errorf("download %s: body over %d bytes: %w", where, maxBytes, ErrTooLarge)
	}
	return resp.Header.Get("Content-Type"), n, nil
}

// get sends the checked GET and returns a 2xx response whose announced length is within
// maxBytes, with the URL as errors name it; the caller closes the body.
func (f *Fetcher) get(ctx context.Context, rawURL string, maxBytes int64) (*http.Response, string, error) {
	if len(rawURL) > maxURLLength {
		return nil, "", fmt.Errorf("fetch: url of %d bytes is longer than %d: %w", len(rawURL), maxURLLength, ErrBadURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", fmt.Errorf("fetch: %w: %w", ErrBadURL, err)
	}
	where := req.URL.Redacted()
	if err := f.checkURL(req.URL); err != nil {
		return nil, where, fmt.Errorf("fetch %s: %w", where, err)
	}
	req.Header.Set("User-Agent", f.cfg.UserAgent)
	req.Header.Set("Accept", acceptHeader)

	resp, err := f.client.Do(req)
	if err != nil {
		return nil, where, fmt.Errorf("fetch %s: %w", where, classify(ctx, err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.CopyN(io.Discard, resp.Body, maxErrorDrain)
		resp.Body.Close()
		return nil, where, fmt.Errorf("fetch %s: %w", where, &StatusError{StatusCode: resp.StatusCode})
	}
	if resp.ContentLength > maxBytes {
		resp.Body.Close()
		return nil, where, fmt.Errorf("fetch %s: content length %d over %d bytes: %w", where, resp.ContentLength, maxBytes, ErrTooLarge)
	}
	return resp, where, nil
}

// checkRedirect enforces MaxRedirects and re-checks each redirect target like the first URL.
func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > f.cfg.MaxRedirects {
		return fmt.Errorf("stopped after %d redirects: %w", f.cfg.MaxRedirects, ErrTooManyRedirects)
	}
	if err := f.checkURL(req.URL); err != nil {
		return fmt.Errorf("redirect to %s: %w", req.URL.Redacted(), err)
	}
	return nil
}

// classify maps a transport or body error onto the package's sentinels. ctx is the fetch's
// own context, carrying the Timeout (as a deadline, or as errTimedOut for its cause).
func classify(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, ErrBadURL), errors.Is(err, ErrBlocked),
		errors.Is(err, ErrTooManyRedirects), errors.Is(err, ErrTooLarge):
		return err
	}
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) || errors.Is(context.Cause(ctx), errTimedOut) {
			return fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		// The caller cancelled: report that, not an upstream fault.
		if errors.Is(err, cerr) {
			return err
		}
		return fmt.Errorf("%w: %w", cerr, err)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return fmt.Errorf("%w: %w", ErrUpstream, err)
}

// readBody reads r through an io.LimitReader of limit+1 bytes and fails with ErrTooLarge when
// more than limit bytes arrive. size is the announced length (-1 when unknown, at most limit),
// used only to size the buffer.
func readBody(r io.Reader, size, limit int64) ([]byte, error) {
	lr := io.LimitReader(r, limit+1)
	initial := int64(initialBodyBuffer)
	if size >= 0 {
		initial = size + 1
	}
	initial = min(initial, limit+1)
	buf := make([]byte, 0, initial)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, fmt.Errorf("body over %d bytes: %w", limit, ErrTooLarge)
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
