package access

import (
	"testing"
)

const originRejected = `{"detail":"origin not allowed"}`

func TestOriginEnforcement(t *testing.T) {
	skipShort(t)
	t.Parallel()
	h := startHost(t, baseEnv(
		"ALLOWED_ORIGINS", appOrigin+",https://admin.example",
		"ENFORCE_ALLOWED_ORIGINS", "true"))

	for _, path := range []string{"/speech", "/api"} {
		r := do(t, "GET", h.URL+path, "Origin", appOrigin)
		wantToken(t, "listed origin "+path, path, r)
		if got := r.header.Get("Access-Control-Allow-Origin"); got != appOrigin {
			t.Errorf("listed origin %s: got Access-Control-Allow-Origin %q, want %q", path, got, appOrigin)
		}

		// A client outside a browser sends whatever Origin it likes.
		r = do(t, "GET", h.URL+path, "Origin", "https://evil.example")
		wantStatus(t, "foreign origin "+path, r, 403, originRejected)
		if got := header(r, "Access-Control-Allow-Origin"); got != nil {
			t.Errorf("foreign origin %s: got Access-Control-Allow-Origin %q, want none", path, got)
		}

		// ALLOW_MISSING_ORIGIN defaults to true.
		wantToken(t, "no origin "+path, path, do(t, "GET", h.URL+path))
	}

	bypasses := map[string][]string{
		"upper_case_host":  {"Origin", "https://APP.example"},
		"trailing_slash":   {"Origin", appOrigin + "/"},
		"other_port":       {"Origin", appOrigin + ":8443"},
		"http_scheme":      {"Origin", "http://app.example"},
		"suffix_host":      {"Origin", "https://app.example.evil.example"},
		"null":             {"Origin", "null"},
		"listed_then_evil": {"Origin", appOrigin, "Origin", "https://evil.example"},
		"evil_then_listed": {"Origin", "https://evil.example", "Origin", appOrigin},
	}
	for name, pairs := range bypasses {
		wantStatus(t, name, do(t, "POST", h.URL+"/api", pairs...), 403, originRejected)
	}

	// A foreign page's preflight is refused by CORS before the guard.
	r := do(t, "OPTIONS", h.URL+"/api", "Origin", "https://evil.example", "Access-Control-Request-Method", "GET")
	wantStatus(t, "foreign preflight", r, 400, `{"detail":"Disallowed CORS origin"}`)
	r = do(t, "OPTIONS", h.URL+"/api", "Origin", appOrigin, "Access-Control-Request-Method", "GET")
	wantStatus(t, "listed preflight", r, 200, "OK")
}

func TestOriginEnforcementRejectsMissing(t *testing.T) {
	skipShort(t)
	t.Parallel()
	h := startHost(t, baseEnv(
		"ALLOWED_ORIGINS", appOrigin,
		"ENFORCE_ALLOWED_ORIGINS", "true",
		"ALLOW_MISSING_ORIGIN", "false"))

	wantStatus(t, "no origin", do(t, "GET", h.URL+"/speech"), 403, originRejected)
	wantStatus(t, "empty origin", do(t, "GET", h.URL+"/speech", "Origin", ""), 403, originRejected)
	wantToken(t, "listed origin", "/speech", do(t, "GET", h.URL+"/speech", "Origin", appOrigin))
}
