package access

import (
	"net"
	"net/netip"
	"strings"

	"github.com/edgetoken/edgetoken/internal/service"
)

// clientAddrHeader carries the direct peer's address ("ip:port"). Spin sets
// it, and the wazero host sets it and drops any value sent from outside, so
// the guest can believe it.
const clientAddrHeader = "spin-client-addr"

// clientAddr returns the address that rate limiting counts against.
//
// X-Forwarded-For is believed only when the direct peer is a trusted proxy.
// Its entries are then read from the right, skipping trusted proxies, and the
// first untrusted address is the client: everything left of it was written
// by the client itself and may be forged. An entry that does not parse ends
// the walk, and the last trusted hop (which passed the bad entry on) counts
// as the client. ok is false when the peer address is missing or invalid.
func clientAddr(req *service.Request, trusted []netip.Prefix) (addr netip.Addr, ok bool) {
	peer, ok := parseHostPort(headerValue(req, clientAddrHeader))
	if !ok {
		return netip.Addr{}, false
	}
	if !isTrusted(peer, trusted) {
		return peer, true
	}

	addr = peer
	entries := forwardedFor(req)
	for i := len(entries) - 1; i >= 0; i-- {
		hop, ok := parseHostPort(entries[i])
		if !ok {
			return addr, true
		}
		addr = hop
		if !isTrusted(hop, trusted) {
			return addr, true
		}
	}
	// Every hop was a trusted proxy, so the left-most one is the best
	// address there is.
	return addr, true
}

// forwardedFor returns the X-Forwarded-For entries in order, joining
// repeated header fields as RFC 9110 allows.
func forwardedFor(req *service.Request) []string {
	var entries []string
	for _, f := range req.Header {
		if f.Name != "x-forwarded-for" {
			continue
		}
		for item := range strings.SplitSeq(f.Value, ",") {
			entries = append(entries, strings.TrimSpace(item))
		}
	}
	return entries
}

// parseHostPort parses "ip", "ip:port", "[ipv6]" or "[ipv6]:port". IPv6
// zones are rejected because they name a local interface, not a client.
func parseHostPort(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalize(ap.Addr())
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return normalize(a)
}

func normalize(a netip.Addr) (netip.Addr, bool) {
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientKey returns the rate-limit key part for a client address. An IPv6
// client is counted by its /64, because one subscriber usually holds a whole
// /64 and could otherwise rotate addresses to escape the limit.
func clientKey(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr().String() // the /64's first address, without the "/" that would split the key
	}
	return a.String()
}

// headerValue returns the first value of the named header (lower case), or
// "" when absent.
func headerValue(req *service.Request, name string) string {
	for _, f := range req.Header {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// headerValues returns every value of the named header (lower case).
func headerValues(req *service.Request, name string) []string {
	var out []string
	for _, f := range req.Header {
		if f.Name == name {
			out = append(out, f.Value)
		}
	}
	return out
}
