package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// The default listen addresses: every interface once API keys guard the service, the
// loopback interface while it is open.
const (
	keyedAddr    = ":8080"
	loopbackAddr = "127.0.0.1:8080"
)

// errOpenService is listenAddr's refusal: no API keys and a non-loopback address.
var errOpenService = errors.New("refusing to serve an open API on a non-loopback address")

// listenAddr decides where serve listens. addr is PICTOR_ADDR ("" for the default), keyed
// whether PICTOR_API_KEYS names a key, allowOpen is PICTOR_ALLOW_OPEN.
//
// The default is keyedAddr with keys and loopbackAddr without. An address given with no
// keys must be a loopback one (127.0.0.0/8, ::1, localhost) unless allowOpen: otherwise
// every route, admin included, would be open to anyone who can reach the host, and the
// answer is errOpenService naming the ways out. open reports that the service will be
// open to other hosts (no keys, allowOpen, a non-loopback address), for serve to log.
func listenAddr(addr string, keyed, allowOpen bool) (_ string, open bool, err error) {
	if addr == "" {
		if keyed {
			return keyedAddr, false, nil
		}
		return loopbackAddr, false, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false, fmt.Errorf("PICTOR_ADDR=%q: want host:port or :port: %w", addr, err)
	}
	if keyed || loopbackHost(host) {
		return addr, false, nil
	}
	if !allowOpen {
		return "", false, fmt.Errorf("%w: PICTOR_ADDR=%q with no PICTOR_API_KEYS would let anyone who can reach this host "+
			"change everything; configure keys (pictor keys new), listen on loopback (127.0.0.1:8080, the default "+
			"without keys), or set PICTOR_ALLOW_OPEN=true to serve it open deliberately", errOpenService, addr)
	}
	return addr, true, nil
}

// loopbackHost reports whether a listen address's host reaches only this machine: a
// loopback IP or "localhost". "", 0.0.0.0 and :: are every interface; any other name may
// resolve anywhere.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
