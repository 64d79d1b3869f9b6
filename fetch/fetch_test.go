package fetch

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeDNS is the injected resolver: only the names in hosts resolve, and every question is
// recorded, so a test can prove a host never reached DNS.
type fakeDNS struct {
	mu    sync.Mutex
	hosts map[string][]netip.Addr
	asked []string
}

func (d *fakeDNS) lookup(_ context.Context, _, host string) ([]netip.Addr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked = append(d.asked, host)
	if addrs, ok := d.hosts[host]; ok {
		return addrs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (d *fakeDNS) questions() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.asked...)
}

// dialCall is one decision of the Control hook.
type dialCall struct {
	address string
	err     error
}

// dialLog records what the Control hook decided, wrapping the real hook.
type dialLog struct {
	mu    sync.Mutex
	calls []dialCall
}

func (l *dialLog) all() []dialCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]dialCall(nil), l.calls...)
}

// connected returns the addresses the hook let through to connect(2).
func (l *dialLog) connected() []string {
	var out []string
	for _, c := range l.all() {
		if c.err == nil {
			out = append(out, c.address)
		}
	}
	return out
}

type bundle struct {
	f     *Fetcher
	dns   *fakeDNS
	dials *dialLog
}

// setup builds a Fetcher from DefaultConfig changed by mutate, with the fake resolver and the
// recording Control hook in place.
func setup(t *testing.T, mutate func(*Config)) bundle {
	t.Helper()
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	t.Cleanup(f.CloseIdleConnections)
	b := bundle{f: f, dns: &fakeDNS{hosts: map[string][]netip.Addr{}}, dials: &dialLog{}}
	f.lookup = b.dns.lookup
	inner := f.dialer.Control
	f.dialer.Control = func(network, address string, c syscall.RawConn) error {
		err := inner(network, address, c)
		b.dials.mu.Lock()
		b.dials.calls = append(b.dials.calls, dialCall{address: address, err: err})
		b.dials.mu.Unlock()
		return err
	}
	return b
}

func allowLoopback(c *Config) {
	c.AllowedNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

// newServer starts an httptest server on 127.0.0.1.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// stopChannel returns a channel closed when the test ends. Call it before newServer, so the
// channel closes before the server does and handlers blocking on it always return.
func stopChannel(t *testing.T) <-chan struct{} {
	t.Helper()
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	return stop
}

// serverPort returns the port of srv.
func serverPort(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatalf("parse server url: %v", err)
	}
	return u.Port()
}

func wantBlockedAddr(t *testing.T, err error, want string) {
	t.Helper()
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("Fetch() error = %v, want ErrBlocked", err)
	}
	var be *BlockedError
	if !errors.As(err, &be) {
		t.Fatalf("Fetch() error = %v, want a *BlockedError", err)
	}
	if got := be.Addr.String(); got != want {
		t.Errorf("BlockedError.Addr = %s, want %s", got, want)
	}
}

var pngBytes = []byte("\x89PNG\r\n\x1a\n not really a png, but bytes")

func imageHandler(seen chan<- *http.Request) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if seen != nil {
			select {
			case seen <- r.Clone(context.Background()):
			default:
			}
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(pngBytes)
	}
}

func TestControl(t *testing.T) {
	t.Parallel()
	strict := setup(t, nil).f
	loop := setup(t, allowLoopback).f
	tests := []struct {
		name      string
		f         *Fetcher
		network   string
		address   string
		wantAddr  string // blocked address, "" when the dial is allowed
		wantBlock bool
	}{
		{"private v4", strict, "tcp4", "10.0.0.1:80", "10.0.0.1", true},
		{"metadata", strict, "tcp4", "169.254.169.254:80", "169.254.169.254", true},
		{"mapped metadata", strict, "tcp6", "[::ffff:169.254.169.254]:80", "::ffff:169.254.169.254", true},
		{"mapped private", strict, "tcp6", "[::ffff:10.0.0.1]:80", "::ffff:10.0.0.1", true},
		{"loopback v4", strict, "tcp4", "127.0.0.1:8080", "127.0.0.1", true},
		{"loopback v6", strict, "tcp6", "[::1]:443", "::1", true},
		{"unspecified", strict, "tcp4", "0.0.0.0:80", "0.0.0.0", true},
		{"link-local zone", strict, "tcp6", "[fe80::1%eth0]:80", "fe80::1", true},
		{"nat64 private", strict, "tcp6", "[64:ff9b::a00:1]:80", "64:ff9b::a00:1", true},
		{"6to4 metadata", strict, "tcp6", "[2002:a9fe:a9fe::]:80", "2002:a9fe:a9fe::", true},
		{"ula", strict, "tcp6", "[fd00::1]:80", "fd00::1", true},
		{"cgnat", strict, "tcp4", "100.64.1.1:80", "100.64.1.1", true},
		{"public v4", strict, "tcp4", "8.8.8.8:443", "", false},
		{"public v6", strict, "tcp6", "[2606:4700::1111]:443", "", false},
		{"allowed loopback", loop, "tcp4", "127.0.0.1:8080", "", false},
		{"allowed mapped loopback", loop, "tcp6", "[::ffff:127.0.0.2]:8080", "", false},
		{"v6 loopback not in allowed v4 net", loop, "tcp6", "[::1]:80", "::1", true},
		{"private still blocked", loop, "tcp4", "10.0.0.1:80", "10.0.0.1", true},
		{"udp refused", loop, "udp4", "127.0.0.1:53", "", true},
		{"unparsable refused", loop, "tcp", "localhost:80", "", true},
		{"empty refused", loop, "tcp", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.f.control(tt.network, tt.address, nil)
			if !tt.wantBlock {
				if err != nil {
					t.Fatalf("control(%s, %s) = %v, want nil", tt.network, tt.address, err)
				}
				return
			}
			if !errors.Is(err, ErrBlocked) {
				t.Fatalf("control(%s, %s) = %v, want ErrBlocked", tt.network, tt.address, err)
			}
			if tt.wantAddr == "" {
				return
			}
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("control(%s, %s) = %v, want a *BlockedError", tt.network, tt.address, err)
			}
			if got := be.Addr.String(); got != tt.wantAddr {
				t.Errorf("BlockedError.Addr = %s, want %s", got, tt.wantAddr)
			}
		})
	}
}

// TestFetchResolvedToBlocked maps names to blocked addresses with the fake resolver and
// proves the Control hook refuses them: the hook saw the address and refused it, so connect(2)
// never ran and no packet left.
func TestFetchResolvedToBlocked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		host     string
		addrs    []string
		wantAddr string
	}{
		{"private", "evil.example", []string{"10.0.0.1"}, "10.0.0.1"},
		{"metadata", "meta.example", []string{"169.254.169.254"}, "169.254.169.254"},
		{"mapped private", "mapped.example", []string{"::ffff:10.0.0.1"}, "10.0.0.1"},
		{"nat64 metadata", "nat64.example", []string{"64:ff9b::a9fe:a9fe"}, "64:ff9b::a9fe:a9fe"},
		{"all blocked", "many.example", []string{"192.168.1.1", "172.16.0.1"}, "192.168.1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, nil)
			for _, a := range tt.addrs {
				b.dns.hosts[tt.host] = append(b.dns.hosts[tt.host], netip.MustParseAddr(a))
			}
			_, err := b.f.Fetch(context.Background(), "http://"+tt.host+"/x.jpg")
			wantBlockedAddr(t, err, tt.wantAddr)
			if got := b.dns.questions(); len(got) != 1 || got[0] != tt.host {
				t.Errorf("resolver asked %v, want [%s]", got, tt.host)
			}
			calls := b.dials.all()
			if len(calls) != len(tt.addrs) {
				t.Errorf("Control hook called %d times (%v), want %d", len(calls), calls, len(tt.addrs))
			}
			if got := b.dials.connected(); len(got) != 0 {
				t.Errorf("Control hook let %v connect, want none", got)
			}
		})
	}
}

func TestFetchLoopbackServer(t *testing.T) {
	t.Parallel()
	seen := make(chan *http.Request, 1)
	srv := newServer(t, imageHandler(seen))
	port := serverPort(t, srv)

	t.Run("blocked by default", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		_, err := b.f.Fetch(context.Background(), srv.URL+"/a.png")
		wantBlockedAddr(t, err, "127.0.0.1")
		if got := b.dials.all(); len(got) != 0 {
			t.Errorf("dials = %v, want none: an IP literal is refused before dialling", got)
		}
	})
	t.Run("name resolving to loopback blocked at dial", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		b.dns.hosts["rebind.example"] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
		_, err := b.f.Fetch(context.Background(), "http://rebind.example:"+port+"/a.png")
		wantBlockedAddr(t, err, "127.0.0.1")
		if got := len(b.dials.all()); got != 1 {
			t.Errorf("Control hook called %d times, want 1", got)
		}
		if got := b.dials.connected(); len(got) != 0 {
			t.Errorf("connected to %v, want none", got)
		}
	})
}

func TestFetchAllowedLoopback(t *testing.T) {
	t.Parallel()
	seen := make(chan *http.Request, 1)
	srv := newServer(t, imageHandler(seen))
	b := setup(t, allowLoopback)
	res, err := b.f.Fetch(context.Background(), srv.URL+"/a.png?v=1")
	if err != nil {
		t.Fatalf("Fetch() error = %v, want nil", err)
	}
	if !bytes.Equal(res.Body, pngBytes) {
		t.Errorf("Body = %q, want %q", res.Body, pngBytes)
	}
	if res.ContentType != "image/png" {
		t.Errorf("ContentType = %q, want %q", res.ContentType, "image/png")
	}
	if want := srv.URL + "/a.png?v=1"; res.FinalURL != want {
		t.Errorf("FinalURL = %q, want %q", res.FinalURL, want)
	}
	r := <-seen
	if got := r.UserAgent(); got != DefaultUserAgent {
		t.Errorf("User-Agent = %q, want %q", got, DefaultUserAgent)
	}
	if got := r.Header.Get("Accept"); !strings.HasPrefix(got, "image/") {
		t.Errorf("Accept = %q, want it to start with image/", got)
	}
	if got := b.dials.connected(); len(got) != 1 {
		t.Errorf("connected = %v, want one dial", got)
	}
}

func TestFetchAllowedByName(t *testing.T) {
	t.Parallel()
	seen := make(chan *http.Request, 1)
	srv := newServer(t, imageHandler(seen))
	b := setup(t, func(c *Config) {
		c.AllowedNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		c.UserAgent = "test-agent"
	})
	// The first address is refused by the hook, the second is allowed: the decision is per dial.
	b.dns.hosts["img.example"] = []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("127.0.0.1")}
	host := "img.example:" + serverPort(t, srv)
	res, err := b.f.Fetch(context.Background(), "http://"+host+"/a.png")
	if err != nil {
		t.Fatalf("Fetch() error = %v, want nil", err)
	}
	if !bytes.Equal(res.Body, pngBytes) {
		t.Errorf("Body = %q, want %q", res.Body, pngBytes)
	}
	r := <-seen
	if r.Host != host {
		t.Errorf("Host = %q, want %q", r.Host, host)
	}
	if got := r.UserAgent(); got != "test-agent" {
		t.Errorf("User-Agent = %q, want %q", got, "test-agent")
	}
	calls := b.dials.all()
	if len(calls) != 2 || !errors.Is(calls[0].err, ErrBlocked) || calls[1].err != nil {
		t.Errorf("Control decisions = %v, want 10.0.0.1 refused then 127.0.0.1 allowed", calls)
	}
}

func TestFetchHTTPS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(imageHandler(nil))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-certificate case logs a handshake error
	srv.StartTLS()
	t.Cleanup(srv.Close)
	b := setup(t, allowLoopback)
	b.f.transport.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	b.f.transport.TLSClientConfig.MinVersion = tls.VersionTLS12
	res, err := b.f.Fetch(context.Background(), srv.URL+"/a.png")
	if err != nil {
		t.Fatalf("Fetch() error = %v, want nil", err)
	}
	if !bytes.Equal(res.Body, pngBytes) {
		t.Errorf("Body = %q, want %q", res.Body, pngBytes)
	}
	if got := b.dials.connected(); len(got) != 1 {
		t.Errorf("connected = %v, want one dial through the hook", got)
	}

	// A certificate the client does not trust is an upstream failure.
	strict := setup(t, allowLoopback)
	_, err = strict.f.Fetch(context.Background(), srv.URL+"/a.png")
	if !errors.Is(err, ErrUpstream) {
		t.Errorf("Fetch() with untrusted certificate error = %v, want ErrUpstream", err)
	}
}

func TestFetchRedirectToBlocked(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	srv := newServer(t, mux)
	port := serverPort(t, srv)
	mux.HandleFunc("/ok.png", imageHandler(nil))
	redirect := func(path, target string) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target, http.StatusFound)
		})
	}
	redirect("/literal", "http://127.0.0.2:"+port+"/ok.png")
	redirect("/mapped", "http://[::ffff:127.0.0.2]:"+port+"/ok.png")
	redirect("/name", "http://inner.example:"+port+"/ok.png")
	redirect("/metadata", "http://169.254.169.254/latest/meta-data/")
	redirect("/ftp", "ftp://127.0.0.1/ok.png")
	redirect("/file", "file:///etc/passwd")
	redirect("/userinfo", "http://user:pw@127.0.0.1:"+port+"/ok.png")
	redirect("/hex", "http://0x7f000001:"+port+"/ok.png")
	redirect("/short", "http://127.1:"+port+"/ok.png")
	redirect("/fine", "/ok.png")

	tests := []struct {
		path      string
		wantErr   error
		wantAddr  string
		wantDials int // Control hook calls, counting the first hop's
	}{
		{"/fine", nil, "", 1},
		{"/literal", ErrBlocked, "127.0.0.2", 1},
		{"/mapped", ErrBlocked, "::ffff:127.0.0.2", 1},
		{"/name", ErrBlocked, "127.0.0.2", 2},
		{"/metadata", ErrBlocked, "169.254.169.254", 1},
		{"/ftp", ErrBadURL, "", 1},
		{"/file", ErrBadURL, "", 1},
		{"/userinfo", ErrBadURL, "", 1},
		{"/hex", ErrBadURL, "", 1},
		{"/short", ErrBadURL, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(c *Config) {
				c.AllowedNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			})
			b.dns.hosts["inner.example"] = []netip.Addr{netip.MustParseAddr("127.0.0.2")}
			res, err := b.f.Fetch(context.Background(), srv.URL+tt.path)
			switch {
			case tt.wantErr == nil:
				if err != nil {
					t.Fatalf("Fetch() error = %v, want nil", err)
				}
				if want := srv.URL + "/ok.png"; res.FinalURL != want {
					t.Errorf("FinalURL = %q, want %q", res.FinalURL, want)
				}
			case tt.wantAddr != "":
				wantBlockedAddr(t, err, tt.wantAddr)
			default:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Fetch() error = %v, want %v", err, tt.wantErr)
				}
			}
			if got := len(b.dials.all()); got != tt.wantDials {
				t.Errorf("Control hook calls = %d (%v), want %d", got, b.dials.all(), tt.wantDials)
			}
			for _, a := range b.dials.connected() {
				if !strings.HasPrefix(a, "127.0.0.1:") {
					t.Errorf("connected to %s, want only 127.0.0.1", a)
				}
			}
		})
	}
}

func TestFetchRedirectLimit(t *testing.T) {
	t.Parallel()
	// /r/N redirects to /r/N-1; /r/0 is the image.
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if n == 0 {
			imageHandler(nil)(w, r)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/r/%d", n-1), http.StatusMovedPermanently)
	}))
	tests := []struct {
		maxRedirects int
		hops         int
		wantErr      error
	}{
		{5, 0, nil},
		{5, 5, nil},
		{5, 6, ErrTooManyRedirects},
		{5, 50, ErrTooManyRedirects},
		{0, 0, nil},
		{0, 1, ErrTooManyRedirects},
		{1, 1, nil},
		{1, 2, ErrTooManyRedirects},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("max %d hops %d", tt.maxRedirects, tt.hops), func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(c *Config) {
				allowLoopback(c)
				c.MaxRedirects = tt.maxRedirects
			})
			res, err := b.f.Fetch(context.Background(), fmt.Sprintf("%s/r/%d", srv.URL, tt.hops))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Fetch() error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch() error = %v, want nil", err)
			}
			if want := srv.URL + "/r/0"; res.FinalURL != want {
				t.Errorf("FinalURL = %q, want %q", res.FinalURL, want)
			}
		})
	}
}

func TestFetchSizeLimit(t *testing.T) {
	t.Parallel()
	const limit = 1000
	stop := stopChannel(t)
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		body := bytes.Repeat([]byte("x"), n)
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", strconv.Itoa(n))
			_, _ = w.Write(body)
		case "/chunked":
			// Flushing first drops Content-Length: the body is chunked, its size unknown.
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			for len(body) > 0 {
				k := min(len(body), 100)
				_, _ = w.Write(body[:k])
				w.(http.Flusher).Flush()
				body = body[k:]
			}
		case "/announced":
			// Announce a huge body, send a little, then stall: a client that reads before
			// checking Content-Length waits for the timeout instead of failing at once.
			w.Header().Set("Content-Length", strconv.Itoa(1<<30))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("xxxx"))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		}
	}))
	tests := []struct {
		path    string
		n       int
		wantErr error
	}{
		{"/length", limit, nil},
		{"/length", limit + 1, ErrTooLarge},
		{"/length", 0, nil},
		{"/chunked", limit, nil},
		{"/chunked", limit + 1, ErrTooLarge},
		{"/chunked", 50 * limit, ErrTooLarge},
		{"/announced", 0, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %d", tt.path, tt.n), func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(c *Config) {
				allowLoopback(c)
				c.MaxBytes = limit
				c.Timeout = 10 * time.Second
			})
			res, err := b.f.Fetch(context.Background(), fmt.Sprintf("%s%s?n=%d", srv.URL, tt.path, tt.n))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Fetch() error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch() error = %v, want nil", err)
			}
			if got := len(res.Body); got != tt.n {
				t.Errorf("len(Body) = %d, want %d", got, tt.n)
			}
		})
	}
}

func TestFetchTimeout(t *testing.T) {
	t.Parallel()
	stop := stopChannel(t)
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
		}
		// Block until the client goes away (or the test ends).
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))

	tests := []struct {
		name string
		path string
	}{
		{"no headers", "/slow-headers"},
		{"stalled body", "/slow-body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(c *Config) {
				allowLoopback(c)
				c.Timeout = 200 * time.Millisecond
			})
			_, err := b.f.Fetch(context.Background(), srv.URL+tt.path)
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("Fetch() error = %v, want ErrTimeout", err)
			}
			if errors.Is(err, ErrUpstream) {
				t.Errorf("Fetch() error = %v, want it not to be ErrUpstream", err)
			}
		})
	}

	t.Run("caller deadline", func(t *testing.T) {
		t.Parallel()
		b := setup(t, allowLoopback) // Timeout 20s: the caller's shorter deadline wins
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := b.f.Fetch(ctx, srv.URL+"/slow-headers")
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("Fetch() error = %v, want ErrTimeout", err)
		}
	})

	t.Run("caller cancels", func(t *testing.T) {
		t.Parallel()
		b := setup(t, allowLoopback)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		mux := http.NewServeMux()
		ownStop := stopChannel(t)
		own := newServer(t, mux)
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			cancel()
			select {
			case <-r.Context().Done():
			case <-ownStop:
			}
		})
		_, err := b.f.Fetch(ctx, own.URL+"/x")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Fetch() error = %v, want context.Canceled", err)
		}
		if errors.Is(err, ErrTimeout) || errors.Is(err, ErrUpstream) {
			t.Errorf("Fetch() error = %v, want neither ErrTimeout nor ErrUpstream", err)
		}
	})
}

func TestFetchStatus(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code)
		_, _ = w.Write([]byte("body of an error page"))
	}))
	for _, code := range []int{404, 403, 410, 500, 503, 302, 204} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			b := setup(t, allowLoopback)
			res, err := b.f.Fetch(context.Background(), fmt.Sprintf("%s/%d", srv.URL, code))
			if code == 204 {
				if err != nil {
					t.Fatalf("Fetch() error = %v, want nil", err)
				}
				if len(res.Body) != 0 {
					t.Errorf("Body = %q, want empty", res.Body)
				}
				return
			}
			if !errors.Is(err, ErrUpstream) {
				t.Fatalf("Fetch() error = %v, want ErrUpstream", err)
			}
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("Fetch() error = %v, want a *StatusError", err)
			}
			if se.StatusCode != code {
				t.Errorf("StatusCode = %d, want %d", se.StatusCode, code)
			}
		})
	}
}

func TestFetchUpstreamFailures(t *testing.T) {
	t.Parallel()
	t.Run("unknown host", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		_, err := b.f.Fetch(context.Background(), "http://nowhere.example/a.png")
		if !errors.Is(err, ErrUpstream) {
			t.Fatalf("Fetch() error = %v, want ErrUpstream", err)
		}
		var de *net.DNSError
		if !errors.As(err, &de) {
			t.Errorf("Fetch() error = %v, want a *net.DNSError inside", err)
		}
	})
	t.Run("oversized response headers", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Big", strings.Repeat("a", maxResponseHeaderBytes+1))
			_, _ = w.Write(pngBytes)
		}))
		b := setup(t, allowLoopback)
		_, err := b.f.Fetch(context.Background(), srv.URL+"/a.png")
		if !errors.Is(err, ErrUpstream) {
			t.Fatalf("Fetch() error = %v, want ErrUpstream", err)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(imageHandler(nil))
		addr := srv.URL
		srv.Close()
		b := setup(t, allowLoopback)
		_, err := b.f.Fetch(context.Background(), addr+"/a.png")
		if !errors.Is(err, ErrUpstream) {
			t.Fatalf("Fetch() error = %v, want ErrUpstream", err)
		}
	})
}

func TestFetchBadURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		wantErr error
	}{
		{"", ErrBadURL},
		{"not a url", ErrBadURL},
		{"ftp://example.com/a.png", ErrBadURL},
		{"file:///etc/passwd", ErrBadURL},
		{"gopher://example.com/", ErrBadURL},
		{"javascript:alert(1)", ErrBadURL},
		{"http:example.com/a.png", ErrBadURL},
		{"//example.com/a.png", ErrBadURL},
		{"http://", ErrBadURL},
		{"http:///a.png", ErrBadURL},
		{"http://:80/a.png", ErrBadURL},
		{"http://user@example.com/a.png", ErrBadURL},
		{"http://user:pw@example.com/a.png", ErrBadURL},
		{"http://0x7f000001/", ErrBadURL},
		{"http://0X7F000001/", ErrBadURL},
		{"http://2130706433/", ErrBadURL},
		{"http://017700000001/", ErrBadURL},
		{"http://127.1/", ErrBadURL},
		{"http://127.0.1/", ErrBadURL},
		{"http://0177.0.0.1/", ErrBadURL},
		{"http://127.000.000.001/", ErrBadURL},
		{"http://0x7f.0.0.1/", ErrBadURL},
		{"http://1.2.3.4.5/", ErrBadURL},
		{"http://0/", ErrBadURL},
		{"http://example.0x10/", ErrBadURL},
		{"http://０x7f000001/", ErrBadURL}, // full-width: IDNA maps it to 0x7f000001
		{"http://[fe80::1%25eth0]/", ErrBadURL},
		{"http://[::1/", ErrBadURL},
		{"http://[example.com]/", ErrBadURL},
		{"http://example.com/" + strings.Repeat("a", maxURLLength), ErrBadURL},
		{"http://[::1]/", ErrBlocked},
		{"http://[::ffff:127.0.0.1]/", ErrBlocked},
		{"http://[::ffff:7f00:1]/", ErrBlocked},
		{"http://[64:ff9b::7f00:1]/", ErrBlocked},
		{"http://127.0.0.1/", ErrBlocked},
		{"http://127.0.0.1./", ErrBlocked},
		{"https://10.0.0.1/", ErrBlocked},
		{"http://169.254.169.254/latest/meta-data/", ErrBlocked},
		{"http://0.0.0.0:8080/", ErrBlocked},
		{"HTTP://192.168.1.1/", ErrBlocked},
		{"http://%31%32%37.0.0.1/", ErrBadURL},
		{"http://１２７.０.０.１/", ErrBlocked}, // full-width digits: IDNA maps them to 127.0.0.1
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			b := setup(t, nil)
			_, err := b.f.Fetch(context.Background(), tt.url)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Fetch(%q) error = %v, want %v", tt.url, err, tt.wantErr)
			}
			if got := b.dns.questions(); len(got) != 0 {
				t.Errorf("resolver asked %v, want no question", got)
			}
			if got := b.dials.connected(); len(got) != 0 {
				t.Errorf("connected to %v, want no connection", got)
			}
		})
	}
}

func TestNoProxyFromEnvironment(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	if b.f.transport.Proxy != nil {
		t.Errorf("transport.Proxy is set, want nil")
	}
	if got := b.f.transport.MaxResponseHeaderBytes; got <= 0 || got > 1<<20 {
		t.Errorf("MaxResponseHeaderBytes = %d, want a bound in (0, 1 MiB]", got)
	}
	if got := b.f.transport.MaxIdleConnsPerHost; got <= 0 {
		t.Errorf("MaxIdleConnsPerHost = %d, want a positive bound", got)
	}
	if got := b.f.transport.MaxIdleConns; got <= 0 {
		t.Errorf("MaxIdleConns = %d, want a positive bound", got)
	}
}

func TestNewCopiesAllowedNets(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.AllowedNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	f, err := New(cfg)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	cfg.AllowedNets[0] = netip.MustParsePrefix("10.0.0.0/8")
	if err := f.control("tcp4", "127.0.0.1:80", nil); err != nil {
		t.Errorf("control(127.0.0.1) after caller changed its slice = %v, want nil", err)
	}
	if err := f.control("tcp4", "10.0.0.1:80", nil); !errors.Is(err, ErrBlocked) {
		t.Errorf("control(10.0.0.1) after caller changed its slice = %v, want ErrBlocked", err)
	}
}
