package access

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

const rateRejected = `{"detail":"rate limit exceeded"}`

// maxRetryAfter bounds Retry-After with one-minute windows: a client over
// the limit waits for the rest of this window and part of the next.
const maxRetryAfter = 120

// wantRateLimited fails unless r is a 429 with a Retry-After of 1 to max
// seconds.
func wantRateLimited(t *testing.T, what string, r result, max int) {
	t.Helper()
	wantStatus(t, what, r, 429, rateRejected)
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > max {
		t.Errorf("%s: got Retry-After %q, want 1 to %d", what, r.header.Get("Retry-After"), max)
	}
}

// TestRateLimitPerClient checks that the limit is one budget across the
// host's instances, and that headers a client sends cannot move it to
// another budget.
func TestRateLimitPerClient(t *testing.T) {
	skipShort(t)
	t.Parallel()
	const limit = 6
	h := startHost(t, baseEnv("RATE_LIMIT_CLIENT_PER_MINUTE", strconv.Itoa(limit)), "-pool", "3")

	// Twice the limit at once, spread over the 3 instances: if each
	// instance counted for itself, up to 3 × limit would pass.
	awayFromMinuteEdge(5 * time.Second)
	results := make([]result, 2*limit)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = do(t, "GET", h.URL+"/speech") })
	}
	wg.Wait()
	passed := 0
	for i, r := range results {
		if r.status == 200 {
			passed++
			continue
		}
		wantRateLimited(t, "request "+strconv.Itoa(i), r, maxRetryAfter)
	}
	if passed != limit {
		t.Errorf("got %d requests through, want %d", passed, limit)
	}

	// The host sets Spin-Client-Addr from the connection, and the peer
	// (127.0.0.1) is no trusted proxy, so neither header changes the client.
	spoofs := map[string][]string{
		"x_forwarded_for":  {"X-Forwarded-For", "198.51.100.7"},
		"spin_client_addr": {"Spin-Client-Addr", "198.51.100.8:40000"},
		"both":             {"Spin-Client-Addr", "198.51.100.9:40000", "X-Forwarded-For", "198.51.100.10"},
		"forwarded":        {"Forwarded", "for=198.51.100.11", "X-Real-Ip", "198.51.100.12"},
	}
	for name, pairs := range spoofs {
		wantRateLimited(t, name, do(t, "GET", h.URL+"/api", pairs...), maxRetryAfter)
	}
}

// TestRateLimitTrustedProxyAndOrigin runs behind a trusted proxy (the test
// itself, on 127.0.0.1), where X-Forwarded-For names the client.
func TestRateLimitTrustedProxyAndOrigin(t *testing.T) {
	skipShort(t)
	t.Parallel()
	h := startHost(t, baseEnv(
		"RATE_LIMIT_CLIENT_PER_MINUTE", "3",
		"RATE_LIMIT_ORIGIN_PER_MINUTE", "4",
		"TRUSTED_PROXIES", "127.0.0.1"))
	awayFromMinuteEdge(5 * time.Second)

	t.Run("client_from_forwarded_for", func(t *testing.T) {
		for i := range 3 {
			wantToken(t, "client 1 request "+strconv.Itoa(i), "/speech",
				do(t, "GET", h.URL+"/speech", "X-Forwarded-For", "198.51.100.1"))
		}
		wantRateLimited(t, "client 1 over the limit", do(t, "GET", h.URL+"/speech", "X-Forwarded-For", "198.51.100.1"), maxRetryAfter)
		// The client forges an entry left of what the proxy appended.
		wantRateLimited(t, "client 1 forging a left entry",
			do(t, "GET", h.URL+"/speech", "X-Forwarded-For", "203.0.113.50, 198.51.100.1"), maxRetryAfter)
		wantToken(t, "client 2", "/speech", do(t, "GET", h.URL+"/speech", "X-Forwarded-For", "198.51.100.2"))
		wantToken(t, "the proxy itself", "/speech", do(t, "GET", h.URL+"/speech"))
	})

	t.Run("per_origin", func(t *testing.T) {
		// Each request comes from another client, so only the origin's
		// budget runs out.
		for i := range 4 {
			wantToken(t, "origin request "+strconv.Itoa(i), "/api", do(t, "GET", h.URL+"/api",
				"Origin", appOrigin, "X-Forwarded-For", "192.0.2."+strconv.Itoa(10+i)))
		}
		wantRateLimited(t, "origin over the limit", do(t, "GET", h.URL+"/api",
			"Origin", appOrigin, "X-Forwarded-For", "192.0.2.20"), maxRetryAfter)
		wantToken(t, "other origin", "/api", do(t, "GET", h.URL+"/api",
			"Origin", "https://other.example", "X-Forwarded-For", "192.0.2.21"))
		wantToken(t, "no origin", "/api", do(t, "GET", h.URL+"/api", "X-Forwarded-For", "192.0.2.22"))
	})
}
