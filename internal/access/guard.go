// Package access implements the optional access controls that go beyond
// CORS: origin enforcement, rate limiting per client address and per origin,
// caller authentication with JWTs, and the HTTP-only cookie for the /api
// token. Every control is off by default.
//
// The package runs inside the wasm guest, where an instance may live for a
// single request, so all shared state (rate counters, the JWKS cache) is in
// the key-value store.
package access

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/edgetoken/edgetoken/internal/config"
	"github.com/edgetoken/edgetoken/internal/service"
	"github.com/edgetoken/edgetoken/internal/token"
)

// Guard applies the access controls to token requests. It holds no state
// between requests besides what is in the store, so one Guard per instance
// and many instances sharing a store enforce the same limits.
type Guard struct {
	settings Settings
	now      func() time.Time
	client   *limiter // nil when off
	origin   *limiter // nil when off
	auth     *authenticator
}

// New returns a Guard for s. store is the key-value store shared by all
// instances. client fetches the JWKS through its Transport (nil means
// http.DefaultTransport outside the wasm guest; see package roundtrip). now
// is the clock, and nil means time.Now.
func New(s Settings, store token.Store, client *http.Client, now func() time.Time) *Guard {
	if now == nil {
		now = time.Now
	}
	// LoadSettings normalizes the origins, but a Settings built in code may
	// not. An entry written as HTTPS://APP.EXAMPLE.COM would never match
	// what a browser sends.
	s.AllowedOrigins = normalizeOrigins(s.AllowedOrigins)
	g := &Guard{settings: s, now: now}
	if s.ClientRate.PerMinute > 0 {
		g.client = &limiter{kind: "client", rate: withBurst(s.ClientRate), store: store}
	}
	if s.OriginRate.PerMinute > 0 {
		g.origin = &limiter{kind: "origin", rate: withBurst(s.OriginRate), store: store}
	}
	if s.Auth.JWKSURL != "" {
		ttl := s.Auth.JWKSCacheTTL
		if ttl <= 0 {
			ttl = DefaultJWKSCacheTTL
		}
		keys := &keySource{
			url: s.Auth.JWKSURL, ttl: ttl, interval: fetchInterval(ttl),
			store: store, client: client, now: now,
			wait: 2 * time.Second, poll: 100 * time.Millisecond,
		}
		g.auth = newAuthenticator(s.Auth, keys)
	}
	return g
}

// normalizeOrigins returns a copy of origins with each one written as
// config.NormalizeOrigin writes it. "*" and entries that are not origins
// stay as they are.
func normalizeOrigins(origins []string) []string {
	out := make([]string, len(origins))
	for i, o := range origins {
		out[i] = o
		if n, ok := config.NormalizeOrigin(o); ok {
			out[i] = n
		}
	}
	return out
}

func withBurst(r Rate) Rate {
	if r.Burst <= 0 {
		r.Burst = r.PerMinute
	}
	return r
}

// Check applies the controls in order: origin, rate limits, then the bearer
// token, so a flood of bad tokens is rate limited before any JWKS work. It
// returns nil when the request may proceed, or the complete rejection with a
// JSON body in FastAPI's {"detail": ...} shape. The caller adds CORS headers.
//
// err is non-nil only with a 503 response, when a control could not run
// (the store or the JWKS fetch failed). The caller should log it. It never
// contains a token.
//
// The caller must handle preflight requests before Check, because they
// carry no token and count against no limit.
func (g *Guard) Check(ctx context.Context, req *service.Request) (*service.Response, error) {
	if !g.originAllowed(req) {
		return reject(http.StatusForbidden, "origin not allowed"), nil
	}

	if resp, err := g.checkRates(req); resp != nil {
		return resp, err
	}

	if g.auth == nil {
		return nil, nil
	}
	raw, err := bearerToken(headerValues(req, "authorization"))
	if err != nil {
		resp := reject(http.StatusUnauthorized, err.Error())
		challenge := `Bearer error="invalid_token"`
		if errors.Is(err, errNoToken) {
			// RFC 6750 section 3.1: no error code when no credential was sent.
			challenge = "Bearer"
		}
		resp.Header = append(resp.Header, service.Field{Name: "www-authenticate", Value: challenge})
		return resp, nil
	}
	if err := g.auth.verify(ctx, raw); err != nil {
		if errors.Is(err, errKeysUnavailable) {
			resp := reject(http.StatusServiceUnavailable, "authentication unavailable")
			resp.Header = append(resp.Header, service.Field{Name: "retry-after",
				Value: strconv.Itoa(int(g.auth.keys.interval / time.Second))})
			return resp, err
		}
		resp := reject(http.StatusUnauthorized, "invalid token")
		resp.Header = append(resp.Header, service.Field{Name: "www-authenticate", Value: `Bearer error="invalid_token"`})
		return resp, nil
	}
	return nil, nil
}

// originAllowed applies origin enforcement. The Origin header must equal a
// listed origin as normalized, byte for byte, just as CORS compares it, so
// that enforcement lets through exactly the origins that CORS allows.
// Browsers send scheme and host in lower case without a default port.
// Requests from a browser carry the page's origin, which the page cannot
// forge. Other clients can send any
// value, so this check stops casual use from the wrong site, not a
// determined caller.
func (g *Guard) originAllowed(req *service.Request) bool {
	s := g.settings
	if !s.EnforceOrigins || allowsAnyOrigin(s.AllowedOrigins) {
		return true
	}
	origins := headerValues(req, "origin")
	switch len(origins) {
	case 0:
		return !s.RejectMissingOrigin
	case 1:
		return slices.Contains(s.AllowedOrigins, origins[0])
	}
	return false
}

// AllowCredentials reports whether CORS responses to a listed origin carry
// Access-Control-Allow-Credentials: true. It is true in cookie mode with a
// list of origins, because a page on another origin (a sibling host of the
// same site) receives and sends the cookie only with that header. It is
// never true for a wildcard ALLOWED_ORIGINS, which LoadSettings rejects in
// cookie mode.
func (g *Guard) AllowCredentials() bool {
	return g.settings.Cookie.Enabled && !allowsAnyOrigin(g.settings.AllowedOrigins)
}

func (g *Guard) checkRates(req *service.Request) (*service.Response, error) {
	now := g.now()
	if g.client != nil {
		id := "unknown" // every request without a peer address shares one budget
		if addr, ok := clientAddr(req, g.settings.TrustedProxies); ok {
			id = clientKey(addr)
		}
		if resp, err := rateCheck(g.client, id, now); resp != nil {
			return resp, err
		}
	}
	if g.origin != nil {
		if origin := headerValue(req, "origin"); origin != "" {
			if resp, err := rateCheck(g.origin, originKey(origin), now); resp != nil {
				return resp, err
			}
		}
	}
	return nil, nil
}

func rateCheck(l *limiter, id string, now time.Time) (*service.Response, error) {
	ok, wait, err := l.allow(id, now)
	if err != nil {
		return reject(http.StatusServiceUnavailable, "rate limit unavailable"), err
	}
	if ok {
		return nil, nil
	}
	resp := reject(http.StatusTooManyRequests, "rate limit exceeded")
	resp.Header = append(resp.Header, service.Field{Name: "retry-after",
		Value: strconv.FormatInt(retryAfterSeconds(wait), 10)})
	return resp, nil
}

// originKey returns the rate-limit key part for an origin. The value comes
// from the client, so a long one is hashed to keep the store key short.
func originKey(origin string) string {
	key := url.PathEscape(origin)
	if len(key) <= 200 {
		return key
	}
	sum := sha256.Sum256([]byte(origin))
	return "sha256-" + hex.EncodeToString(sum[:16])
}

func reject(status int, detail string) *service.Response {
	body, _ := json.Marshal(struct {
		Detail string `json:"detail"`
	}{detail})
	return &service.Response{
		Status: status,
		Header: []service.Field{{Name: "content-type", Value: "application/json"}},
		Body:   body,
	}
}
