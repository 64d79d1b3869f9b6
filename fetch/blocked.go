package fetch

import "net/netip"

// blockedV4 lists the IPv4 ranges that are never fetched: everything in the IANA
// special-purpose registry that is not plainly global unicast.
var blockedV4 = [...]netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network", incl. unspecified
	netip.MustParsePrefix("10.0.0.0/8"),      // private
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("127.0.0.0/8"),     // loopback
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local, incl. cloud metadata 169.254.169.254
	netip.MustParsePrefix("172.16.0.0/12"),   // private
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments (DS-Lite, NAT64 discovery)
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation TEST-NET-1
	netip.MustParsePrefix("192.88.99.0/24"),  // deprecated 6to4 relay anycast
	netip.MustParsePrefix("192.168.0.0/16"),  // private
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation TEST-NET-3
	netip.MustParsePrefix("224.0.0.0/4"),     // multicast
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, incl. broadcast 255.255.255.255
}

// blockedV6 lists IPv6 ranges inside global unicast 2000::/3 that are never fetched. Everything
// outside 2000::/3 is blocked too (unspecified, loopback, ULA fc00::/7, link-local fe80::/10,
// site-local fec0::/10, multicast ff00::/8, discard 100::/64, local-use NAT64 64:ff9b:1::/48),
// except the forms that embed an IPv4 address at a known place, which are judged by that address.
var blockedV6 = [...]netip.Prefix{
	netip.MustParsePrefix("2001::/23"),     // IETF protocol assignments: Teredo 2001::/32, benchmarking 2001:2::/48, ORCHID
	netip.MustParsePrefix("2001:db8::/32"), // documentation
	netip.MustParsePrefix("3fff::/20"),     // documentation (RFC 9637)
	netip.MustParsePrefix("5f00::/16"),     // SRv6 SIDs (RFC 9602)
}

var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	v4Mapped       = netip.MustParsePrefix("::ffff:0:0/96")
	v4Compatible   = netip.MustParsePrefix("::/96")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
)

// Blocked reports whether ip must never be fetched, before Config.AllowedNets is consulted.
// It is a pure function of the address; any zone is ignored. Blocked are the unspecified,
// loopback, private (10/8, 172.16/12, 192.168/16), link-local (169.254/16, fe80::/10), CGNAT
// (100.64/10), 0.0.0.0/8, multicast, broadcast and reserved (240/4), benchmarking (198.18/15,
// 2001:2::/48), documentation (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20),
// IETF protocol assignments (192.0.0/24, 2001::/23 incl. Teredo), IPv6 ULA (fc00::/7) and
// site-local (fec0::/10) ranges, and every IPv6 address outside global unicast 2000::/3.
// IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96), NAT64 (64:ff9b::/96) and 6to4
// (2002::/16) addresses are judged by the IPv4 address they embed. The local-use NAT64 prefix
// 64:ff9b:1::/48 is blocked whole, because where it embeds an IPv4 address is chosen by the
// local operator and cannot be read from the address. An invalid Addr is blocked.
func Blocked(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.WithZone("")
	if ip.Is4() {
		return blockedIPv4(ip)
	}
	if v4, ok := embeddedIPv4(ip); ok {
		return blockedIPv4(v4)
	}
	if !globalUnicast6.Contains(ip) {
		return true
	}
	for _, p := range blockedV6 {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func blockedIPv4(ip netip.Addr) bool {
	for _, p := range blockedV4 {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// embeddedIPv4 returns the IPv4 address an IPv6 address stands for when it is IPv4-mapped,
// IPv4-compatible, well-known-prefix NAT64 or 6to4.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	switch {
	case v4Mapped.Contains(ip), v4Compatible.Contains(ip), nat64.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}
