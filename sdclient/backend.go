package sdclient

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ErrInvalidBackend is returned by ParseBackend and ParseBackends for a
// backend URL that cannot be used, and by every Client method when the
// Client was built from such a Backend.
var ErrInvalidBackend = errors.New("invalid sd backend url")

// Backend is one Stable Diffusion WebUI server.
type Backend struct {
	// URL is the base URL of the WebUI without credentials and without a
	// trailing slash, e.g. "https://gpu1:7860". It may carry a path prefix
	// (WebUI --subpath). There is no default.
	URL string
	// User is the --api-auth user name; default "" sends no credentials.
	User string
	// Password is the --api-auth password; default "".
	Password string
}

// Name returns the label that identifies the backend in metrics and logs:
// host:port (the scheme's default port when none is given), followed by the
// path prefix if there is one. It never contains credentials.
func (b Backend) Name() string {
	u, err := url.Parse(b.URL)
	if err != nil || u.Host == "" {
		return b.URL
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	return host + strings.TrimSuffix(u.Path, "/")
}

// String returns the URL without credentials, so a Backend can be logged.
func (b Backend) String() string { return b.URL }

// ParseBackend parses one backend URL such as
// "https://user:pass@gpu1:7860". Credentials in the URL become User and
// Password (HTTP Basic, the WebUI's --api-auth); the scheme must be http or
// https.
func ParseBackend(s string) (Backend, error) {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil {
		// url.Error quotes the whole URL, password included: do not wrap it.
		return Backend{}, fmt.Errorf("%w: cannot parse %q", ErrInvalidBackend, redact(s))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Backend{}, fmt.Errorf("%w: %q: scheme must be http or https", ErrInvalidBackend, redact(s))
	}
	if u.Hostname() == "" {
		return Backend{}, fmt.Errorf("%w: %q: no host", ErrInvalidBackend, redact(s))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Backend{}, fmt.Errorf("%w: %q: query and fragment are not allowed", ErrInvalidBackend, redact(s))
	}
	var b Backend
	if u.User != nil {
		b.User = u.User.Username()
		b.Password, _ = u.User.Password()
		u.User = nil
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	b.URL = u.String()
	return b, nil
}

// ParseBackends parses a comma-separated list of backend URLs, the format of
// PICTOR_SD_URLS. Blank entries are skipped; an empty string gives no
// backends and no error. The same URL twice is an error.
func ParseBackends(s string) ([]Backend, error) {
	var out []Backend
	seen := make(map[string]bool)
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		b, err := ParseBackend(part)
		if err != nil {
			return nil, err
		}
		if seen[b.URL] {
			return nil, fmt.Errorf("%w: %q listed twice", ErrInvalidBackend, b.URL)
		}
		seen[b.URL] = true
		out = append(out, b)
	}
	return out, nil
}

// redact hides the password of a URL-ish string for error messages.
func redact(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	start := strings.Index(s, "://")
	if start < 0 || start > at {
		start = 0
	} else {
		start += 3
	}
	userinfo := s[start:at]
	if i := strings.Index(userinfo, ":"); i >= 0 {
		return s[:start] + userinfo[:i] + ":xxxxx" + s[at:]
	}
	return s
}
