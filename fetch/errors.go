package fetch

import (
	"errors"
	"fmt"
	"net/netip"
)

// Sentinel errors returned (wrapped) by Fetch, New and Validate. Test with errors.Is.
var (
	// ErrBadURL is returned for a URL Fetch refuses to try: a scheme other than http or https,
	// userinfo, an empty host, an IPv6 zone, or a host in a non-canonical numeric form such as
	// 0x7f000001, 2130706433, 017700000001 or 127.1.
	ErrBadURL = errors.New("bad url")
	// ErrBlocked is returned when the address to be dialled (or an IP literal in the URL) is a
	// private, loopback, link-local or otherwise non-public address outside Config.AllowedNets.
	// Errors carrying an address are *BlockedError.
	ErrBlocked = errors.New("address blocked")
	// ErrTooLarge is returned when the body, or its announced Content-Length, exceeds
	// Config.MaxBytes.
	ErrTooLarge = errors.New("source too large")
	// ErrTooManyRedirects is returned when the source redirects more than Config.MaxRedirects times.
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrTimeout is returned when the whole fetch (dial, redirects, headers and body) takes
	// longer than Config.Timeout, or the caller's context deadline passes first.
	ErrTimeout = errors.New("fetch timed out")
	// ErrUpstream is returned when the source answers with a non-2xx status (then the error is
	// also a *StatusError) or the connection fails: DNS failure, refused, reset, TLS error,
	// oversized response headers.
	ErrUpstream = errors.New("upstream error")
	// ErrInvalidConfig is returned by Config.Validate, New and ParseNets for bad settings.
	ErrInvalidConfig = errors.New("invalid fetch config")
)

// StatusError reports a non-2xx answer from the source. errors.Is(err, ErrUpstream) is true.
type StatusError struct {
	// StatusCode is the HTTP status the source answered with.
	StatusCode int
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("upstream status %d", e.StatusCode)
}

// Is reports whether target is ErrUpstream.
func (e *StatusError) Is(target error) bool { return target == ErrUpstream }

// BlockedError reports an address that Fetch refused to connect to. errors.Is(err, ErrBlocked)
// is true.
type BlockedError struct {
	// Addr is the refused address as it was about to be dialled (or as written in the URL),
	// without any zone; an IPv4-mapped address is kept in its mapped form.
	Addr netip.Addr
}

// Error implements error.
func (e *BlockedError) Error() string {
	return fmt.Sprintf("address %s is blocked", e.Addr)
}

// Is reports whether target is ErrBlocked.
func (e *BlockedError) Is(target error) bool { return target == ErrBlocked }
