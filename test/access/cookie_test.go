package access

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/internal/testenv"
)

// cookieRE matches the cookie the service sets, capturing name, value and
// Max-Age.
var cookieRE = regexp.MustCompile(`^([A-Za-z_]+)=([A-Za-z0-9._-]+); Path=/; Max-Age=([0-9]+); Secure; HttpOnly; SameSite=Strict$`)

// checkCookie fails unless r sets exactly one cookie named name that lives
// until expiresOn, and returns its value.
func checkCookie(t *testing.T, r result, name string, expiresOn int64) string {
	t.Helper()
	cookies := header(r, "Set-Cookie")
	if len(cookies) != 1 {
		t.Fatalf("got Set-Cookie %q, want one cookie", cookies)
	}
	m := cookieRE.FindStringSubmatch(cookies[0])
	if m == nil || m[1] != name {
		t.Fatalf("got Set-Cookie %q, want %s=<token>; Path=/; Max-Age=<s>; Secure; HttpOnly; SameSite=Strict", cookies[0], name)
	}
	maxAge, _ := strconv.ParseInt(m[3], 10, 64)
	if left := expiresOn - time.Now().Unix(); maxAge < left-5 || maxAge > left+1 {
		t.Errorf("got Max-Age %d, want about %d (until expires_on)", maxAge, left)
	}
	return m[2]
}

func wantCredentials(t *testing.T, what string, r result, origin string) {
	t.Helper()
	if got := r.header.Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("%s: got Access-Control-Allow-Origin %q, want %q", what, got, origin)
	}
	if got := header(r, "Access-Control-Allow-Credentials"); len(got) != 1 || got[0] != "true" {
		t.Errorf("%s: got Access-Control-Allow-Credentials %q, want true", what, got)
	}
}

func TestCookieMode(t *testing.T) {
	skipShort(t)
	t.Parallel()
	h := startHost(t, baseEnv("ALLOWED_ORIGINS", appOrigin, "API_TOKEN_COOKIE", "true"))

	r := do(t, "GET", h.URL+"/api", "Origin", appOrigin)
	wantToken(t, "listed origin", "/api", r)
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresOn   string `json:"expires_on"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatal(err)
	}
	expiresOn, _ := strconv.ParseInt(body.ExpiresOn, 10, 64)
	if value := checkCookie(t, r, "api_token", expiresOn); value != body.AccessToken {
		t.Errorf("cookie value differs from the body's access_token")
	}
	wantCredentials(t, "listed origin", r, appOrigin)

	r = do(t, "OPTIONS", h.URL+"/api", "Origin", appOrigin, "Access-Control-Request-Method", "GET")
	wantStatus(t, "listed preflight", r, 200, "OK")
	wantCredentials(t, "listed preflight", r, appOrigin)

	// Another origin gets neither its origin echoed nor credentials, so its
	// page can read nothing, cookie or not.
	r = do(t, "GET", h.URL+"/api", "Origin", "https://evil.example")
	if got := header(r, "Access-Control-Allow-Credentials"); got != nil {
		t.Errorf("foreign origin: got Access-Control-Allow-Credentials %q, want none", got)
	}
	if got := header(r, "Access-Control-Allow-Origin"); got != nil {
		t.Errorf("foreign origin: got Access-Control-Allow-Origin %q, want none", got)
	}

	// Only /api sets the cookie.
	r = do(t, "GET", h.URL+"/speech", "Origin", appOrigin)
	wantToken(t, "speech", "/speech", r)
	if got := header(r, "Set-Cookie"); got != nil {
		t.Errorf("speech: got Set-Cookie %q, want none", got)
	}
}

func TestCookieModeWithoutBodyToken(t *testing.T) {
	skipShort(t)
	t.Parallel()
	h := startHost(t, baseEnv("ALLOWED_ORIGINS", appOrigin, "API_TOKEN_COOKIE", "true",
		"API_TOKEN_IN_BODY", "false", "API_TOKEN_COOKIE_NAME", "edge_api"))

	r := do(t, "POST", h.URL+"/api", "Origin", appOrigin)
	if r.status != 200 {
		t.Fatalf("got status %d body %s, want 200", r.status, short(r.body))
	}
	m := regexp.MustCompile(`^\{"expires_on":"([0-9]+)"\}$`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf(`got body %s, want {"expires_on":"<unix s>"} only`, short(r.body))
	}
	expiresOn, _ := strconv.ParseInt(m[1], 10, 64)
	if value := checkCookie(t, r, "edge_api", expiresOn); strings.Count(value, ".") != 2 {
		t.Errorf("cookie value is not a JWT")
	}
	wantCredentials(t, "listed origin", r, appOrigin)
}

// TestCookieModeRefusesAnyOrigin checks that the host will not start with
// cookie mode and ALLOWED_ORIGINS=*, which would need credentials for any
// site.
func TestCookieModeRefusesAnyOrigin(t *testing.T) {
	skipShort(t)
	t.Parallel()
	for _, origins := range []string{"*", ""} {
		env := baseEnv("API_TOKEN_COOKIE", "true")
		if origins != "" {
			env["ALLOWED_ORIGINS"] = origins
		}
		_, err := testenv.TryStartHost(t, env, "-local-authority")
		var startErr *testenv.StartError
		if !errors.As(err, &startErr) {
			t.Fatalf("ALLOWED_ORIGINS %q: got %v, want the host to exit", origins, err)
		}
		if startErr.ExitCode != 2 {
			t.Errorf("ALLOWED_ORIGINS %q: got exit status %d, want 2", origins, startErr.ExitCode)
		}
		if !strings.Contains(startErr.Output, "API_TOKEN_COOKIE=true needs ALLOWED_ORIGINS to list") {
			t.Errorf("ALLOWED_ORIGINS %q: output does not explain the refusal:\n%s", origins, startErr.Output)
		}
	}
}
