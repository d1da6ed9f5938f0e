package access

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func TestCheckAllOff(t *testing.T) {
	s, err := LoadSettings(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	store := newMemStore()
	g := New(s, store, nil, newClock().now)

	requests := map[string][]string{
		"bare":           nil,
		"foreign_origin": {"origin", "https://evil.example"},
		"two_origins":    {"origin", "https://a.example", "origin", "https://b.example"},
		"bad_auth":       {"authorization", "Bearer not-a-jwt"},
		"peer":           {"spin-client-addr", "203.0.113.7:5000"},
	}
	for name, pairs := range requests {
		t.Run(name, func(t *testing.T) {
			for range 100 {
				if resp := check(t, g, request(pairs...)); resp != nil {
					t.Fatalf("got status %d, want allowed", resp.Status)
				}
			}
		})
	}
	if n := store.len(); n != 0 {
		t.Errorf("store holds %d keys, want 0", n)
	}
}

func TestCheckOriginEnforced(t *testing.T) {
	base := Settings{
		AllowedOrigins: []string{"https://app.example", "https://admin.example"},
		EnforceOrigins: true,
	}
	rejectMissing := base
	rejectMissing.RejectMissingOrigin = true
	wildcard := base
	wildcard.AllowedOrigins = []string{"*"}
	notEnforced := base
	notEnforced.EnforceOrigins = false

	tests := []struct {
		name     string
		settings Settings
		pairs    []string
		allowed  bool
	}{
		{"listed", base, []string{"origin", "https://admin.example"}, true},
		{"curl_foreign_origin", base, []string{"origin", "https://evil.example"}, false},
		{"case_differs", base, []string{"origin", "https://APP.example"}, false},
		{"trailing_slash", base, []string{"origin", "https://app.example/"}, false},
		{"null_origin", base, []string{"origin", "null"}, false},
		{"two_origins", base, []string{"origin", "https://app.example", "origin", "https://evil.example"}, false},
		{"missing_allowed", base, nil, true},
		{"missing_rejected", rejectMissing, nil, false},
		{"wildcard", wildcard, []string{"origin", "https://evil.example"}, true},
		{"not_enforced", notEnforced, []string{"origin", "https://evil.example"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := New(tc.settings, newMemStore(), nil, newClock().now)
			resp := check(t, g, request(tc.pairs...))
			if tc.allowed {
				if resp != nil {
					t.Fatalf("got status %d, want allowed", resp.Status)
				}
				return
			}
			if extra := wantReject(t, resp, 403, "origin not allowed"); len(extra) != 0 {
				t.Errorf("got extra headers %v, want none", extra)
			}
		})
	}
}

func TestRateLimitSharedAcrossInstances(t *testing.T) {
	store := newMemStore()
	clk := newClock()
	s := Settings{ClientRate: Rate{PerMinute: 3}}
	instances := []*Guard{New(s, store, nil, clk.now), New(s, store, nil, clk.now)}
	peer := request("spin-client-addr", "203.0.113.7:5000")

	for i := range 3 {
		if resp := check(t, instances[i%2], peer); resp != nil {
			t.Fatalf("request %d: got status %d, want allowed", i+1, resp.Status)
		}
	}
	headers := wantReject(t, check(t, instances[1], peer), 429, "rate limit exceeded")
	// 4 counted in window 0 against a limit of 3: in window 1 the estimate
	// 4 × (1 − f) + 1 reaches 3 at f = 0.5, so 60 s + 30 s from now.
	if got := headers["retry-after"]; got != "90" {
		t.Errorf("got retry-after %q, want 90", got)
	}

	other := request("spin-client-addr", "198.51.100.1:5000")
	if resp := check(t, instances[0], other); resp != nil {
		t.Errorf("other client: got status %d, want allowed", resp.Status)
	}

	clk.advance(90 * time.Second)
	if resp := check(t, instances[0], peer); resp != nil {
		t.Errorf("after retry-after: got status %d, want allowed", resp.Status)
	}
	if resp := check(t, instances[1], peer); resp == nil {
		t.Errorf("second request after retry-after: got allowed, want 429")
	}
}

func TestRateLimitRetryAfterInWindow(t *testing.T) {
	clk := newClock()
	g := New(Settings{ClientRate: Rate{PerMinute: 3}}, newMemStore(), nil, clk.now)
	peer := request("spin-client-addr", "203.0.113.7:5000")
	for range 3 {
		if resp := check(t, g, peer); resp != nil {
			t.Fatalf("got status %d, want allowed", resp.Status)
		}
	}

	// At the start of window 1 the estimate is 3 × 1 + 1 = 4. One more
	// request fits once 3 × (1 − f) + 2 ≤ 3, at f = 2/3: 40 s.
	clk.advance(time.Minute)
	headers := wantReject(t, check(t, g, peer), 429, "rate limit exceeded")
	if got := headers["retry-after"]; got != "40" {
		t.Errorf("got retry-after %q, want 40", got)
	}
	clk.advance(39 * time.Second)
	wantReject(t, check(t, g, peer), 429, "rate limit exceeded")
	// That rejected request counted too: 3 × (20/60) + 3 = 4 at 40 s, and
	// 3 × (1 − f) + 3 ≤ 3 first holds at the window's end.
	clk.advance(21 * time.Second)
	if resp := check(t, g, peer); resp != nil {
		t.Errorf("next window: got status %d, want allowed", resp.Status)
	}
}

func TestRateLimitBurstWindow(t *testing.T) {
	clk := newClock()
	store := newMemStore()
	// 60 a minute with a burst of 10: windows of 10 s holding 10 requests.
	g := New(Settings{ClientRate: Rate{PerMinute: 60, Burst: 10}}, store, nil, clk.now)
	peer := request("spin-client-addr", "203.0.113.7:5000")
	for i := range 10 {
		if resp := check(t, g, peer); resp != nil {
			t.Fatalf("request %d: got status %d, want allowed", i+1, resp.Status)
		}
	}
	headers := wantReject(t, check(t, g, peer), 429, "rate limit exceeded")
	// 11 in window 0: 11 × (1 − g) + 1 ≤ 10 at g = 2/11, so 10 s × 13/11.
	if got := headers["retry-after"]; got != "12" {
		t.Errorf("got retry-after %q, want 12", got)
	}

	// Once the burst has slid out, a steady 48 a minute passes. The
	// estimate counts the current request on top of a full window, so a
	// steady rate of exactly PerMinute is at the limit's edge.
	clk.advance(12 * time.Second)
	for i := range 40 {
		if resp := check(t, g, peer); resp != nil {
			t.Fatalf("steady request %d: got status %d, want allowed", i+1, resp.Status)
		}
		clk.advance(1250 * time.Millisecond)
	}
}

func TestRateLimitDeletesOldWindows(t *testing.T) {
	clk := newClock()
	store := newMemStore()
	g := New(Settings{ClientRate: Rate{PerMinute: 5}}, store, nil, clk.now)
	peer := request("spin-client-addr", "203.0.113.7:5000")
	first := clk.now().Unix() / 60

	for range 4 {
		check(t, g, peer)
		clk.advance(time.Minute)
	}
	want := []string{
		"rate/client/203.0.113.7/" + strconv.FormatInt(first+2, 10),
		"rate/client/203.0.113.7/" + strconv.FormatInt(first+3, 10),
	}
	got := store.keys("rate/")
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got keys %v, want %v", got, want)
	}
}

func TestRateLimitForwardedFor(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	s := Settings{ClientRate: Rate{PerMinute: 2}, TrustedProxies: trusted}

	t.Run("spoofed_from_untrusted_peer", func(t *testing.T) {
		g := New(s, newMemStore(), nil, newClock().now)
		for i := range 3 {
			req := request("spin-client-addr", "203.0.113.7:5000",
				"x-forwarded-for", "198.51.100."+strconv.Itoa(i))
			resp := check(t, g, req)
			if i < 2 && resp != nil {
				t.Fatalf("request %d: got status %d, want allowed", i+1, resp.Status)
			}
			if i == 2 {
				wantReject(t, resp, 429, "rate limit exceeded")
			}
		}
	})

	t.Run("trusted_proxy_chain", func(t *testing.T) {
		store := newMemStore()
		g := New(s, store, nil, newClock().now)
		for i := range 3 {
			// The client forges the left-most entry each time; the
			// right-most untrusted entry is what the proxies saw.
			req := request("spin-client-addr", "10.0.0.2:5000",
				"x-forwarded-for", "192.0.2."+strconv.Itoa(i)+", 198.51.100.9",
				"x-forwarded-for", "10.1.2.3")
			resp := check(t, g, req)
			if i < 2 && resp != nil {
				t.Fatalf("request %d: got status %d, want allowed", i+1, resp.Status)
			}
			if i == 2 {
				wantReject(t, resp, 429, "rate limit exceeded")
			}
		}
		key := "rate/client/198.51.100.9/" + strconv.FormatInt(newClock().now().Unix()/60, 10)
		if got, _, _ := store.Get(key); string(got) != "3" {
			t.Errorf("got %s = %q, want 3 (keys %v)", key, got, store.keys(""))
		}
	})
}

func TestRateLimitPerOrigin(t *testing.T) {
	g := New(Settings{OriginRate: Rate{PerMinute: 2}}, newMemStore(), nil, newClock().now)
	for i := range 3 {
		req := request("spin-client-addr", "203.0.113."+strconv.Itoa(i)+":5000", "origin", "https://app.example")
		resp := check(t, g, req)
		if i < 2 && resp != nil {
			t.Fatalf("request %d: got status %d, want allowed", i+1, resp.Status)
		}
		if i == 2 {
			wantReject(t, resp, 429, "rate limit exceeded")
		}
	}
	if resp := check(t, g, request("origin", "https://other.example")); resp != nil {
		t.Errorf("other origin: got status %d, want allowed", resp.Status)
	}
	if resp := check(t, g, request()); resp != nil {
		t.Errorf("no origin: got status %d, want allowed", resp.Status)
	}
}

func TestRateLimitStoreDown(t *testing.T) {
	store := newMemStore()
	store.fail = errStoreDown
	g := New(Settings{ClientRate: Rate{PerMinute: 2}}, store, nil, newClock().now)
	resp, err := g.Check(context.Background(), request("spin-client-addr", "203.0.113.7:5000"))
	if !errors.Is(err, errStoreDown) {
		t.Errorf("got error %v, want %v", err, errStoreDown)
	}
	wantReject(t, resp, 503, "rate limit unavailable")
}

func TestOriginKey(t *testing.T) {
	if got := originKey("https://app.example:8443"); got != "https:%2F%2Fapp.example:8443" {
		t.Errorf("got %q", got)
	}
	long := "https://" + string(make([]byte, 300))
	if got := originKey(long); len(got) != len("sha256-")+32 {
		t.Errorf("got %q, want a hashed key", got)
	}
}
