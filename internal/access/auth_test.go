package access

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer   = "https://login.app.example/"
	testAudience = "api://token-service"
)

// authFixture is a Guard with authentication on, its JWKS server and clock.
type authFixture struct {
	guard *Guard
	store *memStore
	clock *clock
	jwks  *jwksServer
}

func newAuthFixture(t *testing.T, store *memStore, clk *clock, jwks *jwksServer) *authFixture {
	t.Helper()
	s := Settings{Auth: AuthSettings{
		Issuer:       testIssuer,
		Audiences:    []string{"api://other", testAudience},
		JWKSURL:      jwks.URL + "/keys",
		Leeway:       DefaultLeeway,
		JWKSCacheTTL: time.Hour,
	}}
	return &authFixture{guard: New(s, store, jwks.Client(), clk.now), store: store, clock: clk, jwks: jwks}
}

func (f *authFixture) claims() jwt.MapClaims {
	now := f.clock.now()
	return jwt.MapClaims{
		"iss": testIssuer,
		"aud": testAudience,
		"sub": "user-1",
		"exp": now.Add(10 * time.Minute).Unix(),
		"nbf": now.Add(-time.Minute).Unix(),
	}
}

func sign(t *testing.T, method jwt.SigningMethod, kid string, claims jwt.MapClaims, key any) string {
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

func bearer(tok string) []string { return []string{"authorization", "Bearer " + tok} }

func wantInvalidToken(t *testing.T, f *authFixture, pairs ...string) {
	t.Helper()
	headers := wantReject(t, check(t, f.guard, request(pairs...)), 401, "invalid token")
	if got := headers["www-authenticate"]; got != `Bearer error="invalid_token"` {
		t.Errorf("got www-authenticate %q, want Bearer error=\"invalid_token\"", got)
	}
}

func TestAuthAcceptsValidTokens(t *testing.T) {
	testKeys(t)
	jwks := newJWKSServer(t, ecJWK("ec1", &ecKey1.PublicKey), rsaJWK("rsa1", &rsaKey1.PublicKey))
	f := newAuthFixture(t, newMemStore(), newClock(), jwks)

	tokens := map[string]string{
		"ES256": sign(t, jwt.SigningMethodES256, "ec1", f.claims(), ecKey1),
		"RS256": sign(t, jwt.SigningMethodRS256, "rsa1", f.claims(), rsaKey1),
	}
	for name, tok := range tokens {
		t.Run(name, func(t *testing.T) {
			if resp := check(t, f.guard, request(bearer(tok)...)); resp != nil {
				t.Fatalf("got status %d body %s, want allowed", resp.Status, resp.Body)
			}
		})
	}
	if n := jwks.fetchCount(); n != 1 {
		t.Errorf("got %d JWKS fetches, want 1", n)
	}

	// A second instance on the same store uses the cached set.
	other := newAuthFixture(t, f.store, f.clock, jwks)
	if resp := check(t, other.guard, request(bearer(tokens["ES256"])...)); resp != nil {
		t.Fatalf("second instance: got status %d, want allowed", resp.Status)
	}
	if n := jwks.fetchCount(); n != 1 {
		t.Errorf("second instance: got %d JWKS fetches, want 1", n)
	}
}

func TestAuthRejectsAttacks(t *testing.T) {
	testKeys(t)
	jwks := newJWKSServer(t, ecJWK("ec1", &ecKey1.PublicKey), rsaJWK("rsa1", &rsaKey1.PublicKey))
	f := newAuthFixture(t, newMemStore(), newClock(), jwks)
	now := f.clock.now()

	with := func(name string, value any) jwt.MapClaims {
		c := f.claims()
		if value == nil {
			delete(c, name)
		} else {
			c[name] = value
		}
		return c
	}
	publicDER, err := x509.MarshalPKIXPublicKey(&rsaKey1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	// The JWKS holds this P-384 key, but ES384 is not on the allow-list.
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x, y := make([]byte, 48), make([]byte, 48)
	p384.X.FillBytes(x)
	p384.Y.FillBytes(y)
	jwks.setKeys(ecJWK("ec1", &ecKey1.PublicKey), rsaJWK("rsa1", &rsaKey1.PublicKey),
		map[string]string{"kty": "EC", "kid": "p384", "crv": "P-384", "x": b64(x), "y": b64(y)})
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: publicDER})

	tests := map[string]string{
		"alg_none":                  sign(t, jwt.SigningMethodNone, "rsa1", f.claims(), jwt.UnsafeAllowNoneSignatureType),
		"hs256_with_public_key_pem": sign(t, jwt.SigningMethodHS256, "rsa1", f.claims(), publicPEM),
		"hs256_with_public_key_der": sign(t, jwt.SigningMethodHS256, "rsa1", f.claims(), publicDER),
		"wrong_audience":            sign(t, jwt.SigningMethodES256, "ec1", with("aud", "api://someone-else"), ecKey1),
		"no_audience":               sign(t, jwt.SigningMethodES256, "ec1", with("aud", nil), ecKey1),
		"wrong_issuer":              sign(t, jwt.SigningMethodES256, "ec1", with("iss", "https://evil.example/"), ecKey1),
		"expired_beyond_leeway":     sign(t, jwt.SigningMethodES256, "ec1", with("exp", now.Add(-61*time.Second).Unix()), ecKey1),
		"no_expiry":                 sign(t, jwt.SigningMethodES256, "ec1", with("exp", nil), ecKey1),
		"not_yet_valid":             sign(t, jwt.SigningMethodES256, "ec1", with("nbf", now.Add(61*time.Second).Unix()), ecKey1),
		"key_not_in_jwks":           sign(t, jwt.SigningMethodES256, "stray", f.claims(), ecStray),
		"stray_key_known_kid":       sign(t, jwt.SigningMethodES256, "ec1", f.claims(), ecStray),
		"rsa_kid_on_es256":          sign(t, jwt.SigningMethodES256, "rsa1", f.claims(), ecKey1),
		"es384_not_allowed":         sign(t, jwt.SigningMethodES384, "p384", f.claims(), p384),
		"ps256_with_rs256_jwk":      sign(t, jwt.SigningMethodPS256, "rsa1", f.claims(), rsaKey1),
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			wantInvalidToken(t, f, bearer(tok)...)
		})
	}

	t.Run("within_leeway", func(t *testing.T) {
		claims := with("exp", now.Add(-59*time.Second).Unix())
		claims["nbf"] = now.Add(59 * time.Second).Unix()
		tok := sign(t, jwt.SigningMethodES256, "ec1", claims, ecKey1)
		if resp := check(t, f.guard, request(bearer(tok)...)); resp != nil {
			t.Fatalf("got status %d, want allowed", resp.Status)
		}
	})

	// Every rejection above came from the one cached set: a forged kid
	// within the first minute cannot force another fetch.
	if n := jwks.fetchCount(); n != 1 {
		t.Errorf("got %d JWKS fetches, want 1", n)
	}
}

func TestAuthHeaderRejections(t *testing.T) {
	testKeys(t)
	f := newAuthFixture(t, newMemStore(), newClock(), newJWKSServer(t, ecJWK("ec1", &ecKey1.PublicKey)))
	good := sign(t, jwt.SigningMethodES256, "ec1", f.claims(), ecKey1)

	missing := map[string][]string{
		"no_header":    nil,
		"basic_scheme": {"authorization", "Basic dXNlcjpwYXNz"},
		"empty_header": {"authorization", ""},
	}
	for name, pairs := range missing {
		t.Run(name, func(t *testing.T) {
			headers := wantReject(t, check(t, f.guard, request(pairs...)), 401, "missing bearer token")
			if got := headers["www-authenticate"]; got != "Bearer" {
				t.Errorf("got www-authenticate %q, want Bearer", got)
			}
		})
	}

	malformed := map[string][]string{
		"no_token":     {"authorization", "Bearer"},
		"two_parts":    {"authorization", "Bearer " + good + " extra"},
		"two_headers":  {"authorization", "Bearer " + good, "authorization", "Bearer " + good},
		"bad_char":     {"authorization", "Bearer " + good + "\x00"},
		"quoted_token": {"authorization", `Bearer "` + good + `"`},
	}
	for name, pairs := range malformed {
		t.Run(name, func(t *testing.T) {
			headers := wantReject(t, check(t, f.guard, request(pairs...)), 401, "malformed authorization header")
			if got := headers["www-authenticate"]; got != `Bearer error="invalid_token"` {
				t.Errorf("got www-authenticate %q", got)
			}
		})
	}

	t.Run("lower_case_scheme", func(t *testing.T) {
		if resp := check(t, f.guard, request("authorization", "bearer "+good)); resp != nil {
			t.Fatalf("got status %d, want allowed", resp.Status)
		}
	})
}

func TestAuthKeyRotation(t *testing.T) {
	testKeys(t)
	jwks := newJWKSServer(t, ecJWK("k1", &ecKey1.PublicKey))
	f := newAuthFixture(t, newMemStore(), newClock(), jwks)
	tok1 := func() string { return sign(t, jwt.SigningMethodES256, "k1", f.claims(), ecKey1) }
	tok2 := func() string { return sign(t, jwt.SigningMethodES256, "k2", f.claims(), ecKey2) }
	tok3 := func() string { return sign(t, jwt.SigningMethodES256, "k3", f.claims(), ecKey3) }

	if resp := check(t, f.guard, request(bearer(tok1())...)); resp != nil {
		t.Fatalf("k1: got status %d, want allowed", resp.Status)
	}

	// The provider adds k2 and k3. Within the minute of the first fetch an
	// unknown kid is rejected without a fetch.
	jwks.setKeys(ecJWK("k1", &ecKey1.PublicKey), ecJWK("k2", &ecKey2.PublicKey))
	f.clock.advance(30 * time.Second)
	wantInvalidToken(t, f, bearer(tok2())...)
	if n := jwks.fetchCount(); n != 1 {
		t.Fatalf("same minute: got %d JWKS fetches, want 1", n)
	}

	// In the next minute k2 triggers one refetch and is accepted.
	f.clock.advance(30 * time.Second)
	if resp := check(t, f.guard, request(bearer(tok2())...)); resp != nil {
		t.Fatalf("k2 after refetch: got status %d, want allowed", resp.Status)
	}
	if n := jwks.fetchCount(); n != 2 {
		t.Fatalf("after rotation: got %d JWKS fetches, want 2", n)
	}

	// A kid the provider does not hold spends this minute's fetch; more
	// such tokens in the same minute cause no fetch.
	for range 5 {
		wantInvalidToken(t, f, bearer(tok3())...)
	}
	if n := jwks.fetchCount(); n != 2 {
		t.Errorf("made-up kids: got %d JWKS fetches, want 2", n)
	}

	// A made-up kid under a foreign issuer never fetches.
	f.clock.advance(time.Minute)
	claims := f.claims()
	claims["iss"] = "https://evil.example/"
	wantInvalidToken(t, f, bearer(sign(t, jwt.SigningMethodES256, "k9", claims, ecKey3))...)
	if n := jwks.fetchCount(); n != 2 {
		t.Errorf("foreign issuer: got %d JWKS fetches, want 2", n)
	}

	// Old fetch-window counters are deleted: the current and one older.
	if keys := f.store.keys(jwksFetchPrefix); len(keys) > 2 {
		t.Errorf("got fetch counters %v, want at most 2", keys)
	}
}

func TestAuthCacheExpiry(t *testing.T) {
	testKeys(t)
	jwks := newJWKSServer(t, ecJWK("k1", &ecKey1.PublicKey))
	f := newAuthFixture(t, newMemStore(), newClock(), jwks)
	tok := func() string { return sign(t, jwt.SigningMethodES256, "k1", f.claims(), ecKey1) }

	check(t, f.guard, request(bearer(tok())...))
	f.clock.advance(59 * time.Minute)
	check(t, f.guard, request(bearer(tok())...))
	if n := jwks.fetchCount(); n != 1 {
		t.Fatalf("within TTL: got %d JWKS fetches, want 1", n)
	}

	// Past the TTL the set is fetched again. When that fetch fails, the
	// old set keeps working.
	jwks.setStatus(500)
	f.clock.advance(2 * time.Minute)
	if resp := check(t, f.guard, request(bearer(tok())...)); resp != nil {
		t.Fatalf("stale set, failed fetch: got status %d, want allowed", resp.Status)
	}
	if n := jwks.fetchCount(); n != 2 {
		t.Errorf("past TTL: got %d JWKS fetches, want 2", n)
	}
}

func TestAuthJWKSUnavailable(t *testing.T) {
	testKeys(t)
	jwks := newJWKSServer(t, ecJWK("k1", &ecKey1.PublicKey))
	jwks.setStatus(500)
	f := newAuthFixture(t, newMemStore(), newClock(), jwks)
	f.guard.auth.keys.wait = 30 * time.Millisecond
	f.guard.auth.keys.poll = 10 * time.Millisecond
	tok := sign(t, jwt.SigningMethodES256, "k1", f.claims(), ecKey1)

	// The first request fetches and fails; the second, in the same minute,
	// waits for a set that never comes. Neither is the caller's fault.
	for i := range 2 {
		resp, err := f.guard.Check(context.Background(), request(bearer(tok)...))
		if !errors.Is(err, errKeysUnavailable) {
			t.Errorf("request %d: got error %v, want errKeysUnavailable", i+1, err)
		}
		headers := wantReject(t, resp, 503, "authentication unavailable")
		if got := headers["retry-after"]; got != "60" {
			t.Errorf("request %d: got retry-after %q, want 60", i+1, got)
		}
	}
	if n := jwks.fetchCount(); n != 1 {
		t.Errorf("got %d JWKS fetches, want 1", n)
	}

	// In the next minute the provider is back.
	jwks.setStatus(200)
	f.clock.advance(time.Minute)
	if resp := check(t, f.guard, request(bearer(tok)...)); resp != nil {
		t.Fatalf("provider back: got status %d, want allowed", resp.Status)
	}
}

func TestAuthChecksOrder(t *testing.T) {
	testKeys(t)
	jwks := newJWKSServer(t, ecJWK("k1", &ecKey1.PublicKey))
	s := Settings{
		AllowedOrigins: []string{"https://app.example"},
		EnforceOrigins: true,
		ClientRate:     Rate{PerMinute: 1},
		Auth: AuthSettings{Issuer: testIssuer, Audiences: []string{testAudience},
			JWKSURL: jwks.URL, Leeway: DefaultLeeway, JWKSCacheTTL: time.Hour},
	}
	g := New(s, newMemStore(), jwks.Client(), newClock().now)
	peer := []string{"spin-client-addr", "203.0.113.7:5000"}

	// A foreign origin is rejected before it counts against the limit.
	wantReject(t, check(t, g, request(append(peer, "origin", "https://evil.example")...)), 403, "origin not allowed")
	wantReject(t, check(t, g, request(peer...)), 401, "missing bearer token")
	// The limit applies before any token work.
	wantReject(t, check(t, g, request(append(peer, "authorization", "Bearer x.y.z")...)), 429, "rate limit exceeded")
	if n := jwks.fetchCount(); n != 0 {
		t.Errorf("got %d JWKS fetches, want 0", n)
	}
}

func TestFetchInterval(t *testing.T) {
	tests := map[time.Duration]time.Duration{
		time.Hour:               time.Minute,
		time.Minute:             time.Minute,
		2 * time.Second:         2 * time.Second,
		2500 * time.Millisecond: 2 * time.Second,
		time.Second:             time.Second,
		time.Millisecond:        time.Second,
	}
	for ttl, want := range tests {
		if got := fetchInterval(ttl); got != want {
			t.Errorf("fetchInterval(%v): got %v, want %v", ttl, got, want)
		}
	}
}

// TestAuthKeyRotationShortTTL checks that a cache TTL under a minute also
// shortens the wait before an unknown kid may refetch.
func TestAuthKeyRotationShortTTL(t *testing.T) {
	testKeys(t)
	jwks := newJWKSServer(t, ecJWK("k1", &ecKey1.PublicKey))
	f := newAuthFixture(t, newMemStore(), newClock(), jwks)
	f.guard.auth.keys.ttl = 5 * time.Second
	f.guard.auth.keys.interval = fetchInterval(5 * time.Second)
	tok2 := func() string { return sign(t, jwt.SigningMethodES256, "k2", f.claims(), ecKey2) }

	if resp := check(t, f.guard, request(bearer(sign(t, jwt.SigningMethodES256, "k1", f.claims(), ecKey1))...)); resp != nil {
		t.Fatalf("k1: got status %d, want allowed", resp.Status)
	}
	jwks.setKeys(ecJWK("k1", &ecKey1.PublicKey), ecJWK("k2", &ecKey2.PublicKey))
	f.clock.advance(4 * time.Second)
	wantInvalidToken(t, f, bearer(tok2())...)
	f.clock.advance(time.Second)
	if resp := check(t, f.guard, request(bearer(tok2())...)); resp != nil {
		t.Fatalf("k2 after 5 s: got status %d, want allowed", resp.Status)
	}
	if n := jwks.fetchCount(); n != 2 {
		t.Errorf("got %d JWKS fetches, want 2", n)
	}
}
