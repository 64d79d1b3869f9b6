package safety

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Contract limits (docs/safety-api.md).
const (
	// MaxImageBytes is the largest image, before base64, that a server must
	// accept (32 MiB). It is the default and the upper bound of
	// Config.MaxImageBytes.
	MaxImageBytes = 32 << 20
	// MaxIDBytes is the longest id a request may carry (200 bytes).
	MaxIDBytes = 200
	// MaxResponseBytes is the most of a response body the client reads
	// (1 MiB); a 200 answer that is longer is an ErrProtocol.
	MaxResponseBytes = 1 << 20
	// DefaultTimeout is the default Config.Timeout (30s).
	DefaultTimeout = 30 * time.Second
)

// Config configures a Client. Zero Timeout and MaxImageBytes mean their
// defaults; URL has none.
type Config struct {
	// URL is the classifier's base URL, e.g. "http://gpu-1:8000" or
	// "https://gpu-1/safety"; the routes /v1/classify and /v1/health are
	// appended to it. It must be an absolute http or https URL with a host,
	// without userinfo, query or fragment. Default "" (invalid: a Client
	// needs a server).
	URL string
	// Timeout bounds each call, connection to last byte. Default 30s.
	Timeout time.Duration
	// MaxImageBytes is the largest image Classify sends; a larger one is
	// refused with ErrRejected before anything is sent. At most
	// MaxImageBytes (32 MiB), which is the default.
	MaxImageBytes int64
}

// DefaultConfig returns the defaults: no URL, Timeout 30s, MaxImageBytes
// 32 MiB. Set URL before use.
func DefaultConfig() Config {
	return Config{Timeout: DefaultTimeout, MaxImageBytes: MaxImageBytes}
}

// Validate reports every problem with c, each wrapping ErrInvalidConfig.
// Zero Timeout and MaxImageBytes are valid (they mean the defaults).
func (c Config) Validate() error {
	var errs []error
	if err := validateURL(c.URL); err != nil {
		errs = append(errs, err)
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%w: timeout %s is negative", ErrInvalidConfig, c.Timeout))
	}
	if c.MaxImageBytes < 0 || c.MaxImageBytes > MaxImageBytes {
		errs = append(errs, fmt.Errorf("%w: max image bytes %d is outside 1..%d", ErrInvalidConfig, c.MaxImageBytes, MaxImageBytes))
	}
	return errors.Join(errs...)
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.MaxImageBytes == 0 {
		c.MaxImageBytes = d.MaxImageBytes
	}
	return c
}

func validateURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("%w: url is empty", ErrInvalidConfig)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the URL; it has no userinfo worth hiding that
		// Parse accepted, but say only what is wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%w: url does not parse: %w", ErrInvalidConfig, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%w: url scheme %q is not http or https", ErrInvalidConfig, u.Scheme)
	case u.Opaque != "":
		return fmt.Errorf("%w: url %q is not absolute (want scheme://host)", ErrInvalidConfig, raw)
	case u.User != nil:
		// Never echo the URL: it holds credentials.
		return fmt.Errorf("%w: url has userinfo; credentials do not belong in it", ErrInvalidConfig)
	case u.Hostname() == "":
		return fmt.Errorf("%w: url %q has no host", ErrInvalidConfig, raw)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("%w: url %q has a query", ErrInvalidConfig, raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%w: url %q has a fragment", ErrInvalidConfig, raw)
	}
	return nil
}
