// Package authority is a local stand-in for the Microsoft Entra ID token
// endpoint and the managed identity endpoints, for local runs without an
// Azure account and for tests. It speaks the real protocol, well enough for
// azidentity and MSAL, but the tokens it issues are NOT real: they are
// signed by a key made at start and no Azure service accepts them. Each
// token carries the claim "not_real": true.
package authority

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// DefaultTokenLifetime is the lifetime of issued tokens, as Entra's usual
// hour (Entra varies it between 60 and 90 minutes).
const DefaultTokenLifetime = time.Hour

// DefaultManagedIdentityClientID is the client ID of the system-assigned
// managed identity, used when a managed identity request names none.
const DefaultManagedIdentityClientID = "00000000-0000-4000-8000-00000000a11d"

// DefaultManagedIdentityTenantID is the tenant of managed identity tokens.
const DefaultManagedIdentityTenantID = "00000000-0000-4000-8000-0000000001d0"

// Options configures an Authority. The zero value accepts any client.
type Options struct {
	// ClientID, when set, is the only client that may get a token with
	// the client credentials grant; others get unauthorized_client.
	ClientID string
	// ClientSecret, when set, must match client_secret; a wrong one gets
	// 401 invalid_client. A client assertion is accepted instead, as
	// ClientCertificates describes.
	ClientSecret string
	// ClientCertificates are the certificates registered on the
	// application. When set, a client assertion issued by the client
	// itself (iss equal to client_id, as a certificate credential signs
	// it) must name one of them in its x5t#S256 or x5t header, verify
	// with its public key (RS256 or PS256), be addressed to the token URL
	// and be within its validity; otherwise it gets 401 invalid_client.
	// When empty, any well-formed JWT passes. An assertion from another
	// issuer is a federated token (workload identity) and passes when it
	// is a well-formed JWT, because the Authority trusts no issuer's keys.
	ClientCertificates []*x509.Certificate
	// IdentityHeader, when set, must match the X-IDENTITY-HEADER of
	// managed identity requests; otherwise any non-empty value passes.
	IdentityHeader string
	// TokenLifetime defaults to DefaultTokenLifetime.
	TokenLifetime time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

// Authority is an http.Handler that serves, for any tenant path segment:
//
//	POST /<tenant>/oauth2/v2.0/token                    client credentials
//	GET  /<tenant>/discovery/v2.0/keys                  JWKS
//	GET  /<tenant>/v2.0/.well-known/openid-configuration
//	GET  /msi/token                                     App Service managed identity (2019-08-01)
//	GET  /metadata/identity/oauth2/token                IMDS (2018-02-01)
//
// Issuer and endpoint URLs are built from the request's Host and TLS state,
// so the same Authority works behind any loopback address.
type Authority struct {
	opts Options
	key  *rsa.PrivateKey
	kid  string
	mux  *http.ServeMux

	mu sync.Mutex
	// requests counts token requests per scope; guarded by mu.
	requests map[string]int
	// lifetime is the current token lifetime; guarded by mu.
	lifetime time.Duration
	// failures are the statuses queued by FailNext; guarded by mu.
	failures []int
	// received records every request, for Received; guarded by mu.
	received []Request
}

// Request is a request the Authority received, as Received returns it.
// It holds secrets and assertions in clear, so it is for tests only.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	// Form is the parsed body of a POST form, nil otherwise.
	Form url.Values
}

// New makes an Authority with a fresh 2048-bit RSA signing key.
func New(opts Options) (*Authority, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = DefaultTokenLifetime
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("authority: generate signing key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("authority: encode public key: %w", err)
	}
	sum := sha256.Sum256(der)

	a := &Authority{
		opts:     opts,
		key:      key,
		kid:      hex.EncodeToString(sum[:16]),
		requests: map[string]int{},
		lifetime: opts.TokenLifetime,
	}
	a.mux = http.NewServeMux()
	a.mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", a.serveToken)
	a.mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", a.serveKeys)
	a.mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", a.serveConfiguration)
	a.mux.HandleFunc("GET /msi/token", a.serveAppService)
	a.mux.HandleFunc("GET /metadata/identity/oauth2/token", a.serveIMDS)
	return a, nil
}

func (a *Authority) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	a.record(r)
	a.mux.ServeHTTP(w, r)
}

// record keeps a copy of r for Received. It parses a POST form here, which
// the handlers then read from r.PostForm.
func (a *Authority) record(r *http.Request) {
	req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone()}
	if r.Method == http.MethodPost && r.ParseForm() == nil {
		req.Form = make(url.Values, len(r.PostForm))
		for k, v := range r.PostForm {
			req.Form[k] = append([]string(nil), v...)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.received = append(a.received, req)
}

// Received returns every request received so far, in order of arrival.
func (a *Authority) Received() []Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Request(nil), a.received...)
}

// Requests returns how many token requests arrived for scope, on every
// endpoint and whatever the outcome. Managed identity requests count under
// their resource plus "/.default".
func (a *Authority) Requests(scope string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests[scope]
}

// SetTokenLifetime changes the lifetime of the tokens issued from now on.
func (a *Authority) SetTokenLifetime(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lifetime = d
}

// FailNext makes the next token requests fail, one per status, in order,
// with the error body Entra would send: 400 invalid_request, 401
// invalid_client (AADSTS7000215), 429 with "Retry-After: 1", and
// temporarily_unavailable for any other status.
func (a *Authority) FailNext(statuses ...int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failures = append(a.failures, statuses...)
}

// PublicKey is the key that verifies issued tokens.
func (a *Authority) PublicKey() *rsa.PublicKey { return &a.key.PublicKey }

// count records a token request for scope and returns the status queued by
// FailNext, or 0.
func (a *Authority) count(scope string) (lifetime time.Duration, fail int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests[scope]++
	if len(a.failures) > 0 {
		fail = a.failures[0]
		a.failures = a.failures[1:]
	}
	return a.lifetime, fail
}

// baseURL returns scheme://host of the request, as the client addressed us.
func baseURL(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

func (a *Authority) serveKeys(w http.ResponseWriter, r *http.Request) {
	pub := a.key.PublicKey
	e := big64(int64(pub.E))
	writeJSON(w, http.StatusOK, map[string]any{
		"keys": []map[string]any{{
			"kty": "RSA",
			"use": "sig",
			"alg": "RS256",
			"kid": a.kid,
			"n":   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e":   base64.RawURLEncoding.EncodeToString(e),
		}},
	})
}

// big64 returns the big-endian bytes of v without leading zeros.
func big64(v int64) []byte {
	var b []byte
	for ; v > 0; v >>= 8 {
		b = append([]byte{byte(v)}, b...)
	}
	return b
}

func (a *Authority) serveConfiguration(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	base := baseURL(r) + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code", "id_token", "token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt"},
		"tenant_region_scope":                   "NA",
		"not_real":                              true,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}
