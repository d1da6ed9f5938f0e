package access

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// maxTokenBytes caps the bearer token parsed. Identity provider tokens are a
// few KiB; anything far larger is refused before any decoding.
const maxTokenBytes = 16 << 10

var (
	// errNoToken means the request carries no bearer token.
	errNoToken = errors.New("missing bearer token")
	// errMalformedAuth means the Authorization header is not a single,
	// well-formed bearer credential.
	errMalformedAuth = errors.New("malformed authorization header")
)

// bearerToken extracts the token from the Authorization header values
// (RFC 6750 section 2.1). The scheme is case-insensitive. A header with
// another scheme counts as no token, and repeated headers are malformed
// because a proxy and a client might each have set one.
func bearerToken(values []string) (string, error) {
	if len(values) == 0 {
		return "", errNoToken
	}
	if len(values) > 1 {
		return "", errMalformedAuth
	}

	scheme, rest, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", errNoToken
	}
	tok := strings.TrimLeft(rest, " ")
	if tok == "" || len(tok) > maxTokenBytes || !isToken68(tok) {
		return "", errMalformedAuth
	}
	return tok, nil
}

// isToken68 reports whether s matches RFC 7235's token68: token characters
// followed by optional "=" padding.
func isToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~+/", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// authenticator validates caller JWTs against the identity provider's JWKS.
type authenticator struct {
	issuer string
	parser *jwt.Parser
	keys   *keySource
}

func newAuthenticator(a AuthSettings, keys *keySource) *authenticator {
	algs := a.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms
	}
	return &authenticator{
		issuer: a.Issuer,
		keys:   keys,
		parser: jwt.NewParser(
			// The allow-list is checked before any key is looked up, so
			// "none" and HS256 tokens fail here whatever their signature.
			jwt.WithValidMethods(algs),
			jwt.WithIssuer(a.Issuer),
			jwt.WithAudience(a.Audiences...),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(a.Leeway),
			jwt.WithTimeFunc(keys.now),
		),
	}
}

// verify checks the bearer token. The error wraps errKeysUnavailable when
// the failure is on our side (no JWKS), otherwise the token is at fault.
func (a *authenticator) verify(ctx context.Context, raw string) error {
	_, err := a.parser.Parse(raw, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)

		// A token that names another issuer can never pass, so its
		// unknown kid must not spend the once-a-minute JWKS refetch.
		iss, _ := t.Claims.GetIssuer()
		return a.keys.lookup(ctx, kid, t.Method.Alg(), iss == a.issuer)
	})
	if err != nil {
		if errors.Is(err, errKeysUnavailable) {
			return err
		}
		return fmt.Errorf("invalid token: %w", err)
	}
	return nil
}
