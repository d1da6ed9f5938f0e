package access

import (
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("2001:db8:ffff::/48"),
	}
	tests := []struct {
		name  string
		pairs []string
		want  string // "" means no address
	}{
		{"no_peer", nil, ""},
		{"bad_peer", []string{"spin-client-addr", "somewhere"}, ""},
		{"zoned_peer", []string{"spin-client-addr", "[fe80::1%eth0]:80"}, ""},
		{"peer_v4", []string{"spin-client-addr", "203.0.113.7:5000"}, "203.0.113.7"},
		{"peer_v6", []string{"spin-client-addr", "[2001:db8::1]:5000"}, "2001:db8::1"},
		{"peer_v4_mapped", []string{"spin-client-addr", "[::ffff:203.0.113.7]:5000"}, "203.0.113.7"},
		{"peer_without_port", []string{"spin-client-addr", "203.0.113.7"}, "203.0.113.7"},
		{"untrusted_peer_ignores_xff", []string{"spin-client-addr", "203.0.113.7:1", "x-forwarded-for", "198.51.100.1"}, "203.0.113.7"},
		{"trusted_peer_no_xff", []string{"spin-client-addr", "10.0.0.2:1"}, "10.0.0.2"},
		{"trusted_peer_one_hop", []string{"spin-client-addr", "10.0.0.2:1", "x-forwarded-for", "198.51.100.1"}, "198.51.100.1"},
		{"rightmost_untrusted", []string{"spin-client-addr", "10.0.0.2:1",
			"x-forwarded-for", "192.0.2.66, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"repeated_headers", []string{"spin-client-addr", "10.0.0.2:1",
			"x-forwarded-for", "192.0.2.66, 198.51.100.1", "x-forwarded-for", "10.9.9.9"}, "198.51.100.1"},
		{"all_trusted", []string{"spin-client-addr", "10.0.0.2:1", "x-forwarded-for", "10.1.1.1, 10.2.2.2"}, "10.1.1.1"},
		{"garbage_hop", []string{"spin-client-addr", "10.0.0.2:1", "x-forwarded-for", "198.51.100.1, unknown, 10.3.3.3"}, "10.3.3.3"},
		{"garbage_only", []string{"spin-client-addr", "10.0.0.2:1", "x-forwarded-for", "<script>"}, "10.0.0.2"},
		{"empty_entry", []string{"spin-client-addr", "10.0.0.2:1", "x-forwarded-for", "198.51.100.1,,"}, "10.0.0.2"},
		{"hop_with_port", []string{"spin-client-addr", "10.0.0.2:1", "x-forwarded-for", "198.51.100.1:443"}, "198.51.100.1"},
		{"hop_v6_bracketed", []string{"spin-client-addr", "[2001:db8:ffff::5]:1", "x-forwarded-for", "[2001:db8:1::7]"}, "2001:db8:1::7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, ok := clientAddr(request(tc.pairs...), trusted)
			if tc.want == "" {
				if ok {
					t.Errorf("got %v, want no address", addr)
				}
				return
			}
			if !ok || addr.String() != tc.want {
				t.Errorf("got %v (ok %v), want %s", addr, ok, tc.want)
			}
		})
	}
}

func TestClientKeyGroupsIPv6By64(t *testing.T) {
	a := clientKey(netip.MustParseAddr("2001:db8:1:2:aaaa::1"))
	b := clientKey(netip.MustParseAddr("2001:db8:1:2:bbbb::9"))
	c := clientKey(netip.MustParseAddr("2001:db8:1:3::1"))
	if a != "2001:db8:1:2::" || b != a {
		t.Errorf("got %q and %q, want both 2001:db8:1:2::", a, b)
	}
	if c == a {
		t.Errorf("another /64 got the same key %q", c)
	}
	if got := clientKey(netip.MustParseAddr("203.0.113.7")); got != "203.0.113.7" {
		t.Errorf("got %q, want 203.0.113.7", got)
	}
}
