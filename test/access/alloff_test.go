package access

import (
	"testing"
)

// TestAllOff checks that without any access variable the service behaves as
// the original did: whatever a client sends, no 403, 429 or 401, no cookie
// and no credentials.
func TestAllOff(t *testing.T) {
	skipShort(t)
	t.Parallel()
	for _, origins := range []string{"", appOrigin} {
		env := baseEnv()
		if origins != "" {
			env["ALLOWED_ORIGINS"] = origins
		}
		h := startHost(t, env)
		attempts := [][]string{
			nil,
			{"Origin", "https://evil.example"},
			{"Origin", "null"},
			{"Authorization", "Bearer not-a-jwt"},
			{"Authorization", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
			{"X-Forwarded-For", "198.51.100.7", "Spin-Client-Addr", "198.51.100.8:1"},
			{"Origin", appOrigin, "Cookie", "api_token=x"},
		}
		for round := range 5 {
			for _, pairs := range attempts {
				for _, path := range []string{"/speech", "/api"} {
					r := do(t, "GET", h.URL+path, pairs...)
					wantToken(t, path, path, r)
					if got := header(r, "Set-Cookie"); got != nil {
						t.Errorf("%s %v: got Set-Cookie %q", path, pairs, got)
					}
					if got := header(r, "Access-Control-Allow-Credentials"); got != nil {
						t.Errorf("%s %v: got Access-Control-Allow-Credentials %q", path, pairs, got)
					}
					if t.Failed() {
						t.Fatalf("ALLOWED_ORIGINS %q, round %d, headers %v", origins, round, pairs)
					}
				}
			}
		}
	}
}
