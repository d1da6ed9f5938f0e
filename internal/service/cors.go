package service

import "github.com/edgetoken/edgetoken/internal/config"

// CORS follows Starlette's CORSMiddleware as the original service set it
// up: allow_origins from ALLOWED_ORIGINS, every method and header allowed,
// and no credentials unless the /api cookie mode is on. It differs in two
// ways. A rejected preflight gets a JSON body
// ({"detail":"Disallowed CORS origin"}) rather than plain text. With a list
// of origins, every response carries Vary: Origin, so a shared cache never
// serves one origin's response to another.
//
// Credentials are allowed only when the guard asks for them (cookie mode
// with a list of origins): responses to a listed origin then carry
// Access-Control-Allow-Credentials: true, without which a page on another
// origin neither receives nor sends the token cookie.

// credentialsGuard is implemented by a Guard that may allow credentials.
type credentialsGuard interface{ AllowCredentials() bool }

// allowCredentials reports whether responses to a listed origin carry
// Access-Control-Allow-Credentials. Never with a wildcard origin, which
// browsers refuse next to credentials.
func (h *Handler) allowCredentials() bool {
	g, ok := h.guard.(credentialsGuard)
	return ok && !h.settings.AllowAllOrigins && g.AllowCredentials()
}

// preflight answers an OPTIONS request that has Origin and
// Access-Control-Request-Method, for any path, as Starlette does.
func (h *Handler) preflight(r *Request, origin, method string) *Response {
	header := make([]Field, 0, 6)
	originOK := h.settings.OriginAllowed(origin)
	if h.settings.AllowAllOrigins {
		header = append(header, Field{"access-control-allow-origin", "*"})
	} else {
		header = append(header, Field{"vary", "Origin"})
		if originOK {
			header = append(header, Field{"access-control-allow-origin", origin})
			if h.allowCredentials() {
				header = append(header, Field{"access-control-allow-credentials", "true"})
			}
		}
	}
	header = append(header,
		Field{"access-control-allow-methods", corsMethods},
		Field{"access-control-max-age", "600"},
	)
	if requested, ok := r.header("access-control-request-headers"); ok {
		header = append(header, Field{"access-control-allow-headers", requested})
	}

	methodOK := corsMethod(method)
	if originOK && methodOK {
		header = append(header, Field{"content-type", "text/plain; charset=utf-8"})
		return &Response{Status: 200, Header: header, Body: bodyPreflightOK}
	}
	header = append(header, Field{"content-type", contentJSON})
	var body []byte
	switch {
	case !originOK && !methodOK:
		body = bodyDisallowedOriginMethod
	case !originOK:
		body = bodyDisallowedOrigin
	default:
		body = bodyDisallowedMethod
	}
	return &Response{Status: 400, Header: header, Body: body}
}

var (
	bodyDisallowedOrigin       = []byte(`{"detail":"Disallowed CORS origin"}`)
	bodyDisallowedMethod       = []byte(`{"detail":"Disallowed CORS method"}`)
	bodyDisallowedOriginMethod = []byte(`{"detail":"Disallowed CORS origin, method"}`)
)

// corsMethod reports whether a preflight may request method. The comparison
// is case-sensitive, as in Starlette.
func corsMethod(m string) bool {
	switch m {
	case "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT":
		return true
	}
	return false
}

// addCORS adds the CORS headers of a non-preflight response.
func (h *Handler) addCORS(r *Request, resp *Response, origin string, hasOrigin bool) {
	_, cookie := r.header("cookie")
	resp.Header = append(resp.Header,
		CORSFields(h.settings, origin, hasOrigin, cookie, h.allowCredentials())...)
}

// CORSFields returns the CORS fields of a response other than a preflight
// to a request from origin (hasOrigin is false when the request had no
// Origin field). cookie reports whether the request carried a Cookie field,
// and credentials whether a listed origin gets
// Access-Control-Allow-Credentials (never with a wildcard).
//
// A runtime that answers a request itself, before the guest runs (a body
// over its limit, no free instance), adds these fields so that a browser
// can read that error as it reads the guest's own.
func CORSFields(s *config.Settings, origin string, hasOrigin, cookie, credentials bool) []Field {
	if s.AllowAllOrigins {
		if !hasOrigin {
			return nil
		}
		// With a cookie, a browser rejects "*", so Starlette echoes the origin.
		if cookie {
			return []Field{{"access-control-allow-origin", origin}, {"vary", "Origin"}}
		}
		return []Field{{"access-control-allow-origin", "*"}}
	}
	fields := make([]Field, 0, 3)
	if hasOrigin && s.OriginAllowed(origin) {
		fields = append(fields, Field{"access-control-allow-origin", origin})
		if credentials {
			fields = append(fields, Field{"access-control-allow-credentials", "true"})
		}
	}
	return append(fields, Field{"vary", "Origin"})
}
