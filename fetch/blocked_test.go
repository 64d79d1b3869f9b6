package fetch

import (
	"net/netip"
	"testing"
)

func TestBlocked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want bool
	}{
		// IPv4 blocked ranges, at their edges.
		{"0.0.0.0", true},
		{"0.255.255.255", true},
		{"10.0.0.1", true},
		{"10.255.255.255", true},
		{"100.64.0.1", true},
		{"100.127.255.255", true},
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"169.254.0.1", true},
		{"169.254.169.254", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"192.0.0.8", true},
		{"192.0.2.1", true},
		{"192.88.99.1", true},
		{"192.168.0.1", true},
		{"192.168.255.255", true},
		{"198.18.0.1", true},
		{"198.19.255.255", true},
		{"198.51.100.7", true},
		{"203.0.113.9", true},
		{"224.0.0.1", true},
		{"239.255.255.250", true},
		{"240.0.0.1", true},
		{"255.255.255.255", true},
		// IPv4 public, including neighbours of blocked ranges.
		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"9.255.255.255", false},
		{"11.0.0.0", false},
		{"100.63.255.255", false},
		{"100.128.0.0", false},
		{"126.255.255.255", false},
		{"128.0.0.0", false},
		{"169.253.255.255", false},
		{"172.15.255.255", false},
		{"172.32.0.0", false},
		{"192.167.255.255", false},
		{"192.169.0.0", false},
		{"198.17.255.255", false},
		{"198.20.0.0", false},
		{"223.255.255.255", false},
		// IPv6 blocked.
		{"::", true},
		{"::1", true},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"febf:ffff::1", true},
		{"fec0::1", true},
		{"fc00::1", true},
		{"fd12:3456:789a::1", true},
		{"ff02::1", true},
		{"ff05::1:3", true},
		{"100::1", true},
		{"2001::1", true},               // Teredo
		{"2001:0:4136:e378::1", true},   // Teredo
		{"2001:2::1", true},             // benchmarking
		{"2001:db8::1", true},           // documentation
		{"2001:20::1", true},            // ORCHIDv2
		{"3fff::1", true},               // documentation
		{"5f00::1", true},               // SRv6 SIDs
		{"64:ff9b:1::808:808", true},    // local-use NAT64, blocked whole
		{"64:ff9b:1:808:8:800::", true}, // local-use NAT64, /48 embedding
		{"1234::1", true},               // outside 2000::/3
		{"4000::1", true},               // outside 2000::/3
		// IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms of blocked IPv4.
		{"::ffff:127.0.0.1", true},
		{"::ffff:10.0.0.1", true},
		{"::ffff:169.254.169.254", true},
		{"::ffff:0.0.0.0", true},
		{"::ffff:7f00:1", true},
		{"::127.0.0.1", true},
		{"::10.0.0.1", true},
		{"::169.254.169.254", true},
		{"64:ff9b::7f00:1", true},
		{"64:ff9b::10.0.0.1", true},
		{"64:ff9b::a9fe:a9fe", true},
		{"2002:7f00:1::", true},
		{"2002:a00:1::1", true},
		{"2002:a9fe:a9fe::", true},
		{"2002:c0a8:101:1::1", true},
		// IPv6 public, and embedded forms of public IPv4.
		{"2606:4700::1111", false},
		{"2a00:1450:4001:80b::200e", false},
		{"2001:4860:4860::8888", false},
		{"2001:200::1", false}, // just past 2001::/23
		{"3ffe:ffff::1", false},
		{"::ffff:8.8.8.8", false},
		{"::8.8.8.8", false},
		{"64:ff9b::808:808", false},
		{"2002:808:808::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			ip := netip.MustParseAddr(tt.addr)
			if got := Blocked(ip); got != tt.want {
				t.Errorf("Blocked(%s) = %v, want %v", ip, got, tt.want)
			}
		})
	}
}

func TestBlockedInvalid(t *testing.T) {
	t.Parallel()
	if got := Blocked(netip.Addr{}); !got {
		t.Errorf("Blocked(zero Addr) = %v, want true", got)
	}
}
