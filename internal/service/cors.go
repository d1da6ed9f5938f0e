package service

// CORS follows Starlette's CORSMiddleware as the original service set it
// up: allow_origins from ALLOWED_ORIGINS, every method and header allowed,
// no credentials. Two differences: a rejected preflight answers with a JSON
// body ({"detail":"Disallowed CORS origin"}) rather than plain text, and
// with a list of origins every response carries Vary: Origin, so a shared
// cache never serves one origin's answer to another.
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
	if h.settings.AllowAllOrigins {
		if !hasOrigin {
			return
		}
		// With a cookie, a browser rejects "*", so Starlette echoes the origin.
		if _, cookie := r.header("cookie"); cookie {
			resp.Header = append(resp.Header, Field{"access-control-allow-origin", origin}, Field{"vary", "Origin"})
			return
		}
		resp.Header = append(resp.Header, Field{"access-control-allow-origin", "*"})
		return
	}
	if hasOrigin && h.settings.OriginAllowed(origin) {
		resp.Header = append(resp.Header, Field{"access-control-allow-origin", origin})
		if h.allowCredentials() {
			resp.Header = append(resp.Header, Field{"access-control-allow-credentials", "true"})
		}
	}
	resp.Header = append(resp.Header, Field{"vary", "Origin"})
}
