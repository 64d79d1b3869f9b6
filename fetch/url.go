package fetch

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// maxURLLength is the longest URL Fetch accepts; longer ones fail with ErrBadURL.
const maxURLLength = 8 << 10

// checkURL refuses URLs that must not be fetched, before any DNS lookup or dial: schemes other
// than http and https, userinfo, opaque or empty hosts, IPv6 zones, non-canonical numeric hosts,
// and IP literals that are blocked.
func (f *Fetcher) checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q: %w", u.Scheme, ErrBadURL)
	}
	if u.User != nil {
		return fmt.Errorf("userinfo in url: %w", ErrBadURL)
	}
	if u.Opaque != "" {
		return fmt.Errorf("opaque url: %w", ErrBadURL)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("empty host: %w", ErrBadURL)
	}
	if strings.HasPrefix(u.Host, "[") {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("ip literal %q: %w", host, ErrBadURL)
		}
		if a.Zone() != "" {
			return fmt.Errorf("ip literal %q has a zone: %w", host, ErrBadURL)
		}
		return f.permit(a)
	}
	return f.checkHost(host)
}

// checkHost judges a host name that is not bracketed: an IPv4 literal (with or without a
// trailing dot) is checked against the block, a non-canonical numeric form is refused, and
// anything else is a name left to DNS, whose answers the dialer checks.
func (f *Fetcher) checkHost(host string) error {
	trimmed := strings.TrimSuffix(host, ".")
	if a, err := netip.ParseAddr(trimmed); err == nil {
		if a.Zone() != "" {
			return fmt.Errorf("ip literal %q has a zone: %w", host, ErrBadURL)
		}
		return f.permit(a)
	}
	if numericHost(trimmed) {
		return fmt.Errorf("non-canonical numeric host %q: %w", host, ErrBadURL)
	}
	return nil
}

// numericHost reports whether host would be read as an IPv4 address by a URL parser or by
// inet_aton: its last dot-separated label is decimal digits, or 0x followed by hex digits.
// Such hosts (0x7f000001, 2130706433, 017700000001, 127.1) are refused unless they are
// canonical dotted quads, so that they never reach a resolver that might interpret them.
func numericHost(host string) bool {
	last := host
	if i := strings.LastIndexByte(host, '.'); i >= 0 {
		last = host[i+1:]
	}
	if last == "" {
		return false
	}
	if len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') {
		return strings.Trim(last[2:], "0123456789abcdefABCDEF") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// permit applies the address policy: AllowedNets (matched on the unmapped address) first, then
// Blocked. It returns a *BlockedError for a refused address.
func (f *Fetcher) permit(a netip.Addr) error {
	a = a.WithZone("")
	u := a.Unmap()
	for _, p := range f.allowed {
		if p.Contains(u) {
			return nil
		}
	}
	if Blocked(a) {
		return &BlockedError{Addr: a}
	}
	return nil
}
