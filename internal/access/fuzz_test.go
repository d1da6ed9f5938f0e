package access

import (
	"net/netip"
	"strings"
	"testing"
)

func FuzzClientAddr(f *testing.F) {
	seeds := [][2]string{
		{"203.0.113.7:5000", "198.51.100.1"},
		{"10.0.0.2:1", "192.0.2.66, 198.51.100.1, 10.9.9.9"},
		{"10.0.0.2:1", ",,,"},
		{"[::ffff:10.0.0.2]:1", "[2001:db8::1]:443, unknown"},
		{"10.0.0.2", "1.2.3.4%eth0, [fe80::1%25en0]"},
		{"", "198.51.100.1"},
		{"10.0.0.2:99999", "::"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::ffff:0:0/96")}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		req := request("spin-client-addr", peer, "x-forwarded-for", xff)
		addr, ok := clientAddr(req, trusted)
		if !ok {
			return
		}
		if !addr.IsValid() || addr.Zone() != "" || addr.Is4In6() {
			t.Fatalf("got address %v from peer %q", addr, peer)
		}
		peerAddr, _ := parseHostPort(peer)
		if !isTrusted(peerAddr, trusted) && addr != peerAddr {
			t.Fatalf("untrusted peer %q: got %v from X-Forwarded-For %q", peer, addr, xff)
		}
		if strings.ContainsAny(clientKey(addr), "/ ") {
			t.Fatalf("key %q contains a separator", clientKey(addr))
		}
	})
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{
		"Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln",
		"bearer   abc==",
		"Bearer",
		"Bearer =",
		"Basic dXNlcjpwYXNz",
		"Bearer a b",
		"Bearer a\x00",
		" Bearer\tabc",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, err := bearerToken([]string{header})
		if err != nil {
			if tok != "" {
				t.Fatalf("got token %q with error %v", tok, err)
			}
			return
		}
		if !isToken68(tok) || len(tok) > maxTokenBytes {
			t.Fatalf("got invalid token %q from %q", tok, header)
		}
		if !strings.HasSuffix(strings.TrimSpace(header), tok) {
			t.Fatalf("token %q is not the end of header %q", tok, header)
		}
	})
}
