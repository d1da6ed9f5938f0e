package access

import "github.com/edgetoken/edgetoken/internal/config"

// variables are the environment variables LoadSettings reads besides
// ALLOWED_ORIGINS, which config owns because CORS uses it too.
var variables = []config.Variable{
	{Name: "ENFORCE_ALLOWED_ORIGINS", Default: "false",
		Description: "True to answer 403 to a token request whose Origin is not in ALLOWED_ORIGINS, which must then list the origins (not *). Stops casual use from other sites; a non-browser client can send any Origin."},
	{Name: "ALLOW_MISSING_ORIGIN", Default: "true",
		Description: "With ENFORCE_ALLOWED_ORIGINS, whether a request without an Origin header (curl, server-side callers) is let through. False answers it 403."},
	{Name: "RATE_LIMIT_CLIENT_PER_MINUTE", Default: "0",
		Description: "Token requests allowed per minute from one client address (an IPv6 client counts by its /64), shared by every instance; 0 turns the limit off. Over the limit: 429 with Retry-After."},
	{Name: "RATE_LIMIT_CLIENT_BURST", Default: "<RATE_LIMIT_CLIENT_PER_MINUTE>",
		Description: "Requests one client may send at once before the per-minute rate applies."},
	{Name: "RATE_LIMIT_ORIGIN_PER_MINUTE", Default: "0",
		Description: "Token requests allowed per minute per Origin header value; 0 turns the limit off. Requests without an Origin are not counted."},
	{Name: "RATE_LIMIT_ORIGIN_BURST", Default: "<RATE_LIMIT_ORIGIN_PER_MINUTE>",
		Description: "Requests one origin may send at once before the per-minute rate applies."},
	{Name: "TRUSTED_PROXIES",
		Description: "Comma-separated IP addresses or CIDR prefixes of proxies whose X-Forwarded-For is believed when rate limiting. Empty: the direct peer is the client."},
	{Name: "AUTH_ISSUER",
		Description: "Issuer (iss) of the caller JWTs. Setting AUTH_ISSUER, AUTH_AUDIENCE and AUTH_JWKS_URL (all three) requires a bearer token on /speech and /api."},
	{Name: "AUTH_AUDIENCE",
		Description: "Comma-separated audiences; a caller JWT's aud must contain one of them."},
	{Name: "AUTH_JWKS_URL",
		Description: "URL of the identity provider's JWKS (https, or http on a loopback address). Our host allows egress to its origin."},
	{Name: "AUTH_ALGORITHMS", Default: "RS256,ES256,PS256",
		Description: "Comma-separated JWS algorithms accepted; only RS*, PS* and ES* are supported (never none or HS*)."},
	{Name: "AUTH_LEEWAY_SECONDS", Default: "60",
		Description: "Clock skew allowed when checking exp and nbf."},
	{Name: "AUTH_JWKS_CACHE_SECONDS", Default: "3600",
		Description: "How long fetched signing keys are used before they are fetched again. An unknown key ID triggers a refetch at most once per this time or per minute, whichever is shorter."},
	{Name: "API_TOKEN_COOKIE", Default: "false",
		Description: "True to also send the /api token as a Secure, HttpOnly, SameSite=Strict cookie, with Access-Control-Allow-Credentials for listed origins. Needs ALLOWED_ORIGINS to list origins (not *)."},
	{Name: "API_TOKEN_COOKIE_NAME", Default: DefaultCookieName,
		Description: "Name of the /api token cookie."},
	{Name: "API_TOKEN_COOKIE_DOMAIN",
		Description: "Domain attribute of the cookie. Empty makes a host-only cookie that only this service's host receives."},
	{Name: "API_TOKEN_IN_BODY", Default: "true",
		Description: "With API_TOKEN_COOKIE, whether the /api body still carries access_token. False leaves only expires_on, so page scripts never see the token."},
}

// Variables describes the environment variables LoadSettings reads, other
// than ALLOWED_ORIGINS (see config.Variables). A host passes each one it
// finds to the guest's config store under its lower-case name.
func Variables() []config.Variable {
	out := make([]config.Variable, len(variables))
	copy(out, variables)
	return out
}
