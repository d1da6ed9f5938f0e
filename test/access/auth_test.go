package access

import (
	"crypto/x509"
	"encoding/pem"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	issuer   = "https://idp.app.example/"
	audience = "api://edgetoken-test"
)

func signToken(t *testing.T, method jwt.SigningMethod, kid string, claims jwt.MapClaims, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign token: %v", err)
	}
	return s
}

func claims(change ...any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss": issuer,
		"aud": audience,
		"sub": "user-1",
		"iat": now.Unix(),
		"exp": now.Add(10 * time.Minute).Unix(),
	}
	for i := 0; i+1 < len(change); i += 2 {
		c[change[i].(string)] = change[i+1]
	}
	return c
}

func TestCallerAuthentication(t *testing.T) {
	skipShort(t)
	t.Parallel()
	key1, key2, stray := newECKey(t), newECKey(t), newECKey(t)
	idp := newJWKSServer(t)
	idp.setKeys(ecJWK("k1", key1))

	h := startHost(t, baseEnv(
		"ALLOWED_ORIGINS", appOrigin,
		"AUTH_ISSUER", issuer,
		"AUTH_AUDIENCE", audience,
		"AUTH_JWKS_URL", idp.URL+"/keys",
		// A short cache also shortens the wait before an unknown key ID
		// may refetch, so rotation shows within the test.
		"AUTH_JWKS_CACHE_SECONDS", "2"))
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok, "Origin", appOrigin} }
	const invalid = `{"detail":"invalid token"}`

	valid := signToken(t, jwt.SigningMethodES256, "k1", claims(), key1)
	for _, path := range []string{"/speech", "/api"} {
		wantToken(t, "valid token "+path, path, do(t, "GET", h.URL+path, bearer(valid)...))
	}
	if n := idp.fetchCount(); n != 1 {
		t.Errorf("got %d JWKS fetches, want 1", n)
	}

	r := do(t, "GET", h.URL+"/api", "Origin", appOrigin)
	wantStatus(t, "no token", r, 401, `{"detail":"missing bearer token"}`)
	if got := r.header.Get("WWW-Authenticate"); got != "Bearer" {
		t.Errorf("no token: got WWW-Authenticate %q, want Bearer", got)
	}
	// The page can read the rejection.
	if got := r.header.Get("Access-Control-Allow-Origin"); got != appOrigin {
		t.Errorf("no token: got Access-Control-Allow-Origin %q, want %q", got, appOrigin)
	}

	pubDER, err := x509.MarshalPKIXPublicKey(&key1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	now := time.Now()
	attacks := map[string]string{
		"alg_none":              signToken(t, jwt.SigningMethodNone, "k1", claims(), jwt.UnsafeAllowNoneSignatureType),
		"hs256_with_public_pem": signToken(t, jwt.SigningMethodHS256, "k1", claims(), pubPEM),
		"hs256_with_public_der": signToken(t, jwt.SigningMethodHS256, "k1", claims(), pubDER),
		"wrong_audience":        signToken(t, jwt.SigningMethodES256, "k1", claims("aud", "api://someone-else"), key1),
		"wrong_issuer":          signToken(t, jwt.SigningMethodES256, "k1", claims("iss", "https://evil.example/"), key1),
		"expired":               signToken(t, jwt.SigningMethodES256, "k1", claims("exp", now.Add(-5*time.Minute).Unix()), key1),
		"unknown_kid":           signToken(t, jwt.SigningMethodES256, "k-unknown", claims(), stray),
		"stray_key_known_kid":   signToken(t, jwt.SigningMethodES256, "k1", claims(), stray),
		"tampered_payload":      valid[:len(valid)/2] + "A" + valid[len(valid)/2+1:],
	}
	for name, tok := range attacks {
		r := do(t, "GET", h.URL+"/speech", bearer(tok)...)
		wantStatus(t, name, r, 401, invalid)
		if got := r.header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
			t.Errorf("%s: got WWW-Authenticate %q", name, got)
		}
	}

	// A preflight carries no token and still succeeds.
	r = do(t, "OPTIONS", h.URL+"/api", "Origin", appOrigin,
		"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization")
	wantStatus(t, "preflight", r, 200, "OK")
	if got := r.header.Get("Access-Control-Allow-Headers"); got != "authorization" {
		t.Errorf("preflight: got Access-Control-Allow-Headers %q, want authorization", got)
	}

	// Key rotation: the provider publishes k2, and a token signed with it
	// passes once the host refetches, within a fetch interval (2 s).
	fetchesBefore := idp.fetchCount()
	idp.setKeys(ecJWK("k1", key1), ecJWK("k2", key2))
	rotated := signToken(t, jwt.SigningMethodES256, "k2", claims(), key2)
	start := time.Now()
	for {
		r := do(t, "GET", h.URL+"/api", bearer(rotated)...)
		if r.status == 200 {
			break
		}
		wantStatus(t, "k2 before refetch", r, 401, invalid)
		if time.Since(start) > 6*time.Second {
			t.Fatalf("k2 still rejected %v after the JWKS changed", time.Since(start))
		}
		time.Sleep(250 * time.Millisecond)
	}
	wantToken(t, "k1 after rotation", "/speech", do(t, "GET", h.URL+"/speech", bearer(valid)...))

	// A stream of made-up key IDs refetches at most once per interval.
	fetches := idp.fetchCount()
	start = time.Now()
	for i := range 20 {
		tok := signToken(t, jwt.SigningMethodES256, "made-up-"+strconv.Itoa(i), claims(), stray)
		wantStatus(t, "made-up kid", do(t, "GET", h.URL+"/speech", bearer(tok)...), 401, invalid)
	}
	limit := int(time.Since(start)/(2*time.Second)) + 2
	if n := idp.fetchCount() - fetches; n > limit {
		t.Errorf("made-up kids: got %d JWKS fetches in %v, want at most %d", n, time.Since(start), limit)
	}
	t.Logf("JWKS fetches: %d before rotation, %d in all", fetchesBefore, idp.fetchCount())
}
