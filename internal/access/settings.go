package access

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgetoken/edgetoken/internal/config"
)

// Settings selects the access controls. The zero value turns every control
// off, which keeps the original service's behaviour: CORS headers only, no
// rejection by origin, no rate limit, no caller authentication, no cookie.
type Settings struct {
	// AllowedOrigins is ALLOWED_ORIGINS split at commas, each origin
	// normalized as config.NormalizeOrigin does (lower-case scheme and
	// host, no default port), which is how browsers send the Origin header
	// and how CORS compares it. An entry "*" (or an empty list) allows
	// every origin.
	AllowedOrigins []string
	// EnforceOrigins rejects a request whose Origin header is not in
	// AllowedOrigins, for clients that ignore CORS (curl, scripts).
	EnforceOrigins bool
	// RejectMissingOrigin rejects a request without an Origin header while
	// EnforceOrigins is on. Non-browser clients usually send none.
	RejectMissingOrigin bool

	// ClientRate limits requests per client address.
	ClientRate Rate
	// OriginRate limits requests per Origin header value. A request
	// without an Origin is not counted against it.
	OriginRate Rate
	// TrustedProxies are the peers whose X-Forwarded-For header is believed.
	TrustedProxies []netip.Prefix

	// Auth, when Auth.JWKSURL is set, requires a bearer JWT on every
	// checked request.
	Auth AuthSettings

	// Cookie, when Cookie.Enabled, sets the /api token as an HTTP-only
	// cookie.
	Cookie CookieSettings
}

// Rate is a request limit per minute with a burst. PerMinute == 0 turns the
// limit off.
type Rate struct {
	PerMinute int
	// Burst is how many requests may arrive at once. 0 means PerMinute.
	Burst int
}

// AuthSettings configures caller authentication with JWTs from the app's own
// identity provider.
type AuthSettings struct {
	Issuer    string
	Audiences []string // the token's aud must contain at least one
	JWKSURL   string
	// Algorithms is the allow-list of JWS algorithms. Empty means
	// DefaultAlgorithms.
	Algorithms []string
	// Leeway absorbs clock skew in exp and nbf.
	Leeway time.Duration
	// JWKSCacheTTL is how long fetched signing keys are used before they
	// are fetched again.
	JWKSCacheTTL time.Duration
}

// CookieSettings configures the HTTP-only cookie for the /api token.
type CookieSettings struct {
	Enabled bool
	Name    string
	// Domain is the cookie's Domain attribute. Empty makes a host-only
	// cookie, which only the token service's own host receives.
	Domain string
	// OmitFromBody removes access_token from the /api response body, so
	// page scripts never see the token.
	OmitFromBody bool
}

// Defaults for settings whose variable is unset.
const (
	DefaultLeeway       = 60 * time.Second
	DefaultJWKSCacheTTL = time.Hour
	DefaultCookieName   = "api_token"
)

// DefaultAlgorithms is the JWS algorithm allow-list when AUTH_ALGORITHMS is
// unset.
var DefaultAlgorithms = []string{"RS256", "ES256", "PS256"}

// supportedAlgorithms are the asymmetric algorithms a JWKS key can verify.
// "none" and the HMAC family are absent on purpose: a JWKS holds public keys,
// and an HMAC check keyed with public key bytes would accept tokens that
// anyone can sign.
var supportedAlgorithms = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
}

// LoadSettings reads the access settings through lookup, which returns the
// value of an environment variable name (os.LookupEnv on the host, the
// config store at the edge). Errors name the variable and never echo a
// value that might be secret.
func LoadSettings(lookup func(string) (string, bool)) (Settings, error) {
	r := reader{lookup: lookup}
	var s Settings

	s.AllowedOrigins = r.origins("ALLOWED_ORIGINS")
	s.EnforceOrigins = r.boolean("ENFORCE_ALLOWED_ORIGINS", false)
	// With every origin allowed there is nothing to enforce, and a
	// deployment that asked for enforcement would silently have none.
	if r.ok() && s.EnforceOrigins && allowsAnyOrigin(s.AllowedOrigins) {
		r.fail(errors.New("ENFORCE_ALLOWED_ORIGINS=true needs ALLOWED_ORIGINS to list the allowed origins " +
			"(scheme://host[:port], comma separated), not * or empty, which allow every origin"))
	}
	s.RejectMissingOrigin = !r.boolean("ALLOW_MISSING_ORIGIN", true)

	s.ClientRate = r.rate("RATE_LIMIT_CLIENT_PER_MINUTE", "RATE_LIMIT_CLIENT_BURST")
	s.OriginRate = r.rate("RATE_LIMIT_ORIGIN_PER_MINUTE", "RATE_LIMIT_ORIGIN_BURST")
	s.TrustedProxies = r.prefixes("TRUSTED_PROXIES")

	s.Auth = r.auth()

	s.Cookie.Enabled = r.boolean("API_TOKEN_COOKIE", false)
	s.Cookie.Name = r.str("API_TOKEN_COOKIE_NAME", DefaultCookieName)
	s.Cookie.Domain = r.str("API_TOKEN_COOKIE_DOMAIN", "")
	s.Cookie.OmitFromBody = !r.boolean("API_TOKEN_IN_BODY", true)
	if !validCookieName(s.Cookie.Name) {
		r.fail(fmt.Errorf("API_TOKEN_COOKIE_NAME %q is not a valid cookie name", s.Cookie.Name))
	}
	if strings.ContainsAny(s.Cookie.Domain, ";, \t\"") {
		r.fail(fmt.Errorf("API_TOKEN_COOKIE_DOMAIN %q is not a valid domain", s.Cookie.Domain))
	}
	// A page on another origin receives the cookie only from a response
	// with Access-Control-Allow-Credentials: true, and browsers refuse that
	// next to a wildcard origin. Echoing any origin with credentials instead
	// would let every site on the web fetch the token with the user's cookie.
	if r.ok() && s.Cookie.Enabled && allowsAnyOrigin(s.AllowedOrigins) {
		r.fail(errors.New("API_TOKEN_COOKIE=true needs ALLOWED_ORIGINS to list the pages' origins " +
			"(scheme://host[:port], comma separated), not *: browsers send and store cookies " +
			"across origins only for a listed origin"))
	}

	if len(r.errs) > 0 {
		return Settings{}, errors.Join(r.errs...)
	}
	return s, nil
}

// reader collects every problem, so LoadSettings reports them all at once
// and reads as a list of settings.
type reader struct {
	lookup func(string) (string, bool)
	errs   []error
}

func (r *reader) fail(err error) { r.errs = append(r.errs, err) }

// ok reports whether no problem was found so far. Checks that combine
// several settings run only then, so a value that failed to parse does not
// cause a second, misleading error.
func (r *reader) ok() bool { return len(r.errs) == 0 }

func (r *reader) str(name, def string) string {
	v, ok := r.lookup(name)
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		return def
	}
	return v
}

func (r *reader) boolean(name string, def bool) bool {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(fmt.Errorf("%s %q is not a boolean (use true or false)", name, v))
		return def
	}
	return b
}

// count reads a non-negative integer, 0 when unset.
func (r *reader) count(name string) int {
	v := r.str(name, "")
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	var numErr *strconv.NumError
	switch {
	case errors.As(err, &numErr) && errors.Is(numErr.Err, strconv.ErrRange):
		r.fail(fmt.Errorf("%s %q is too large", name, v))
		return 0
	case err != nil || n < 0:
		r.fail(fmt.Errorf("%s %q is not a non-negative integer", name, v))
		return 0
	}
	return n
}

func (r *reader) rate(limitName, burstName string) Rate {
	before := len(r.errs)
	rt := Rate{PerMinute: r.count(limitName), Burst: r.count(burstName)}
	if len(r.errs) > before || rt.PerMinute == 0 {
		return Rate{}
	}
	if rt.Burst == 0 {
		rt.Burst = rt.PerMinute
	}
	// The window is Burst/PerMinute minutes (see limiter.go). Below one
	// second the store would see a new counter key for almost every request.
	if window(rt) < time.Second {
		r.fail(fmt.Errorf("%s %d with %s %d gives a window under 1 s; raise %s to at least %d",
			burstName, rt.Burst, limitName, rt.PerMinute, burstName, (rt.PerMinute+59)/60))
		return Rate{}
	}
	return rt
}

// origins reads a list of origins, "*" by default, normalized so that they
// compare equal to the Origin header a browser sends, as in CORS.
func (r *reader) origins(name string) []string {
	var out []string
	for _, item := range splitList(r.str(name, "*")) {
		if item == "*" {
			out = append(out, item)
			continue
		}
		origin, ok := config.NormalizeOrigin(item)
		if !ok {
			r.fail(fmt.Errorf("%s entry %q is invalid: use scheme://host[:port], "+
				"such as https://app.example.com", name, item))
			return nil
		}
		out = append(out, origin)
	}
	return out
}

func (r *reader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, item := range splitList(r.str(name, "")) {
		p, err := parsePrefix(item)
		if err != nil {
			r.fail(fmt.Errorf("%s entry %q is not an IP address or CIDR prefix", name, item))
			return nil
		}
		out = append(out, p)
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (r *reader) auth() AuthSettings {
	a := AuthSettings{
		Issuer:    r.str("AUTH_ISSUER", ""),
		Audiences: splitList(r.str("AUTH_AUDIENCE", "")),
		JWKSURL:   r.str("AUTH_JWKS_URL", ""),
	}
	if a.Issuer == "" && len(a.Audiences) == 0 && a.JWKSURL == "" {
		return AuthSettings{}
	}

	// A token is only as trustworthy as the three checks together, so a
	// partial configuration is an error instead of a weaker check.
	required := []struct {
		name    string
		missing bool
	}{
		{"AUTH_ISSUER", a.Issuer == ""},
		{"AUTH_AUDIENCE", len(a.Audiences) == 0},
		{"AUTH_JWKS_URL", a.JWKSURL == ""},
	}
	missing := false
	for _, v := range required {
		if v.missing {
			r.fail(fmt.Errorf("%s is missing: AUTH_ISSUER, AUTH_AUDIENCE and AUTH_JWKS_URL must be set together", v.name))
			missing = true
		}
	}
	if missing {
		return AuthSettings{}
	}
	u, err := url.Parse(a.JWKSURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		r.fail(fmt.Errorf("AUTH_JWKS_URL %q is not an http or https URL", a.JWKSURL))
		return AuthSettings{}
	}
	// Whoever can alter the JWKS in transit can sign tokens we accept.
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		r.fail(fmt.Errorf("AUTH_JWKS_URL %q must use https (http only on a loopback address)", a.JWKSURL))
		return AuthSettings{}
	}

	a.Algorithms = DefaultAlgorithms
	if v := r.str("AUTH_ALGORITHMS", ""); v != "" {
		a.Algorithms = nil
		for _, alg := range splitList(v) {
			if !supportedAlgorithms[alg] {
				r.fail(fmt.Errorf("AUTH_ALGORITHMS entry %q is not supported (use RS*, PS* or ES* algorithms)", alg))
				return AuthSettings{}
			}
			a.Algorithms = append(a.Algorithms, alg)
		}
	}
	if len(a.Algorithms) == 0 {
		r.fail(errors.New("AUTH_ALGORITHMS is empty"))
		return AuthSettings{}
	}

	a.Leeway = r.seconds("AUTH_LEEWAY_SECONDS", DefaultLeeway)
	before := len(r.errs)
	a.JWKSCacheTTL = r.seconds("AUTH_JWKS_CACHE_SECONDS", DefaultJWKSCacheTTL)
	if len(r.errs) == before && a.JWKSCacheTTL == 0 {
		r.fail(errors.New("AUTH_JWKS_CACHE_SECONDS must be at least 1"))
	}
	return a
}

func (r *reader) seconds(name string, def time.Duration) time.Duration {
	if v := r.str(name, ""); v == "" {
		return def
	}
	return time.Duration(r.count(name)) * time.Second
}

// splitList splits a comma-separated value, trimming spaces and dropping
// empty entries.
func splitList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// validCookieName reports whether name is an RFC 6265 token.
func validCookieName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// allowsAnyOrigin reports whether an ALLOWED_ORIGINS list admits every
// origin: empty, or containing "*".
func allowsAnyOrigin(origins []string) bool {
	return len(origins) == 0 || slices.Contains(origins, "*")
}

// isLoopbackHost reports whether host is localhost or a loopback IP address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// Enabled reports whether any control is on. With none on, the handler
// skips the guard and behaves as the original service did.
func (s Settings) Enabled() bool {
	return s.EnforceOrigins || s.ClientRate.PerMinute > 0 || s.OriginRate.PerMinute > 0 ||
		s.Auth.JWKSURL != "" || s.Cookie.Enabled
}
