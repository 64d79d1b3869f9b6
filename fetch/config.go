package fetch

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Config holds the fetch limits. Start from DefaultConfig.
type Config struct {
	// MaxBytes is the largest body accepted; a larger body, or a Content-Length announcing one,
	// fails with ErrTooLarge (the latter before any of the body is read). Default 32 MiB.
	MaxBytes int64
	// Timeout bounds the whole fetch: dialling, redirects, headers and body. Past it Fetch
	// fails with ErrTimeout. Default 20s.
	Timeout time.Duration
	// MaxRedirects is how many redirects are followed; one more fails with
	// ErrTooManyRedirects. 0 follows none. Default 5.
	MaxRedirects int
	// AllowedNets are exempt from the Blocked decision, e.g. 127.0.0.0/8 in tests or an on-prem
	// image server's network. IPv4-mapped prefixes are taken as their IPv4 form. Default none.
	AllowedNets []netip.Prefix
	// UserAgent is sent with every request. Default "Pictor/1 (+https://github.com/pictor/pictor)".
	UserAgent string
}

// DefaultUserAgent is the User-Agent in DefaultConfig.
const DefaultUserAgent = "Pictor/1 (+https://github.com/pictor/pictor)"

// DefaultConfig returns the defaults: MaxBytes 32 MiB, Timeout 20s, MaxRedirects 5, no
// AllowedNets, UserAgent DefaultUserAgent.
func DefaultConfig() Config {
	return Config{
		MaxBytes:     32 << 20,
		Timeout:      20 * time.Second,
		MaxRedirects: 5,
		UserAgent:    DefaultUserAgent,
	}
}

// Validate reports every invalid field, each wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("max bytes %d must be positive: %w", c.MaxBytes, ErrInvalidConfig))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout %s must be positive: %w", c.Timeout, ErrInvalidConfig))
	}
	if c.MaxRedirects < 0 {
		errs = append(errs, fmt.Errorf("max redirects %d must not be negative: %w", c.MaxRedirects, ErrInvalidConfig))
	}
	for _, p := range c.AllowedNets {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("allowed net %s: %w", p, ErrInvalidConfig))
		}
	}
	if strings.ContainsAny(c.UserAgent, "\r\n") {
		errs = append(errs, fmt.Errorf("user agent %q has a line break: %w", c.UserAgent, ErrInvalidConfig))
	}
	return errors.Join(errs...)
}

// ParseNets parses a comma-separated list of CIDR prefixes or bare IP addresses (a bare
// address is its own /32 or /128), as in PICTOR_FETCH_ALLOWED_NETS. Spaces around entries and
// empty entries are ignored, so "" gives no nets. Prefixes are returned masked, IPv4-mapped
// ones in IPv4 form. Errors wrap ErrInvalidConfig.
func ParseNets(s string) ([]netip.Prefix, error) {
	var nets []netip.Prefix
	for _, field := range strings.Split(s, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		var p netip.Prefix
		if strings.Contains(field, "/") {
			var err error
			if p, err = netip.ParsePrefix(field); err != nil {
				return nil, fmt.Errorf("parse net %q: %w: %w", field, ErrInvalidConfig, err)
			}
		} else {
			a, err := netip.ParseAddr(field)
			if err != nil {
				return nil, fmt.Errorf("parse net %q: %w: %w", field, ErrInvalidConfig, err)
			}
			if a.Zone() != "" {
				return nil, fmt.Errorf("parse net %q: zone not allowed: %w", field, ErrInvalidConfig)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		nets = append(nets, normalizeNet(p))
	}
	return nets, nil
}

// normalizeNet masks p and turns an IPv4-mapped prefix of /96 or longer into its IPv4 form,
// so that it matches the unmapped addresses it is compared with.
func normalizeNet(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}
