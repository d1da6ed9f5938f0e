package access

import (
	"strconv"
	"strings"
	"time"

	"github.com/edgetoken/edgetoken/internal/service"
)

// Cookie returns the Set-Cookie header field that hands the /api token to
// the browser as an HTTP-only cookie:
//
//	<name>=<token>; Path=/; [Domain=<domain>; ]Max-Age=<seconds left>; Secure; HttpOnly; SameSite=Strict
//
// Page scripts cannot read the cookie, and the browser sends it only to
// same-site back ends, so this suits a back end on the token service's own
// site. Without a Domain the cookie is host-only: only the token service's
// host receives it, so a back end on a sibling host needs
// API_TOKEN_COOKIE_DOMAIN.
//
// ok is false when cookie mode is off, the token has expired, or the token
// contains a byte a cookie value cannot carry (an access token is base64url
// and dots, so this means a malformed token). The caller then sends no
// cookie.
func (g *Guard) Cookie(token string, expiresOn time.Time) (field service.Field, ok bool) {
	c := g.settings.Cookie
	if !c.Enabled {
		return service.Field{}, false
	}
	maxAge := int64(expiresOn.Sub(g.now()) / time.Second)
	if maxAge <= 0 || !validCookieValue(token) {
		return service.Field{}, false
	}

	name := c.Name
	if name == "" {
		name = DefaultCookieName
	}
	var b strings.Builder
	b.WriteString(name + "=" + token + "; Path=/; ")
	if c.Domain != "" {
		b.WriteString("Domain=" + c.Domain + "; ")
	}
	b.WriteString("Max-Age=" + strconv.FormatInt(maxAge, 10) + "; Secure; HttpOnly; SameSite=Strict")
	return service.Field{Name: "set-cookie", Value: b.String()}, true
}

// OmitTokenFromBody reports whether the /api response body should leave out
// access_token because the cookie carries it. It is true only when cookie
// mode is on and API_TOKEN_IN_BODY is false. The body should then still
// carry expires_on, so the page can schedule its next token request.
func (g *Guard) OmitTokenFromBody() bool {
	return g.settings.Cookie.Enabled && g.settings.Cookie.OmitFromBody
}

// validCookieValue reports whether v consists of RFC 6265 cookie-octets.
func validCookieValue(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}
