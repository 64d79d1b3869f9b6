package fetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// minDialAttempt is the least time one address of several gets before the next is tried.
const minDialAttempt = 2 * time.Second

// lookupFunc resolves host to addresses; network is "ip", "ip4" or "ip6".
type lookupFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

// control is the net.Dialer Control hook: the one place where the address about to be
// connected is judged. The net package calls it after the socket is created and before
// connect(2), so a refused address never sees a packet. It fails closed on anything it cannot
// parse.
func (f *Fetcher) control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("dial %s %s: network not allowed: %w", network, address, ErrBlocked)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: unparsable address: %w", address, ErrBlocked)
	}
	return f.permit(ap.Addr())
}

// dialContext resolves the host with f.lookup and dials each address in turn through
// f.dialer, whose Control hook refuses blocked addresses. Numeric hosts in non-canonical form
// are refused here too, since the transport may have rewritten the URL host (IDNA) after
// checkURL saw it.
func (f *Fetcher) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w: %w", address, ErrBadURL, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("dial %s: bad port: %w", address, ErrBadURL)
	}
	var addrs []netip.Addr
	if a, perr := netip.ParseAddr(strings.TrimSuffix(host, ".")); perr == nil {
		addrs = []netip.Addr{a}
	} else {
		if numericHost(strings.TrimSuffix(host, ".")) {
			return nil, fmt.Errorf("dial %s: non-canonical numeric host: %w", address, ErrBadURL)
		}
		addrs, err = f.lookup(ctx, lookupNetwork(network), host)
		if err != nil {
			return nil, fmt.Errorf("lookup %s: %w", host, err)
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("lookup %s: no addresses", host)
	}
	var firstErr error
	for i, a := range addrs {
		dctx, cancel := attemptContext(ctx, len(addrs)-i)
		conn, err := f.dialer.DialContext(dctx, network, netip.AddrPortFrom(a.Unmap(), uint16(port)).String())
		cancel()
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil || errors.Is(err, ErrBadURL) {
			break
		}
	}
	return nil, firstErr
}

// attemptContext gives one of remaining addresses its share of ctx's time, at least
// minDialAttempt, as the net package does for multi-address dials.
func attemptContext(ctx context.Context, remaining int) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok || remaining <= 1 {
		return context.WithCancel(ctx)
	}
	share := time.Until(deadline) / time.Duration(remaining)
	if share < minDialAttempt {
		share = minDialAttempt
	}
	return context.WithTimeout(ctx, share)
}

func lookupNetwork(network string) string {
	switch network {
	case "tcp4":
		return "ip4"
	case "tcp6":
		return "ip6"
	}
	return "ip"
}
