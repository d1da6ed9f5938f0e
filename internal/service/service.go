package service

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgetoken/edgetoken/internal/config"
	"github.com/edgetoken/edgetoken/internal/token"
)

// Tokens supplies tokens by scope; *token.Cache implements it. A non-nil
// error returned with a non-empty token must satisfy token.IsUsable, and
// the handler then serves the token and logs the error as a warning.
type Tokens interface {
	Get(ctx context.Context, scope string) (token.Token, error)
	Refresh(ctx context.Context, scope string) (token.Token, error)
}

// Guard decides whether a token request may go on: origin enforcement, rate
// limits and caller authentication. *access.Guard implements it.
type Guard interface {
	// Check returns nil when the request may go on, or the complete
	// rejection. A non-nil error comes with a 503 rejection and is logged.
	Check(ctx context.Context, r *Request) (*Response, error)
	// Cookie returns the Set-Cookie field carrying the /api token, and
	// false when cookie mode is off.
	Cookie(token string, expiresOn time.Time) (Field, bool)
	// OmitTokenFromBody reports whether the /api body leaves out the
	// token because the cookie carries it.
	OmitTokenFromBody() bool
}

// Options configures a Handler.
type Options struct {
	// Guard, when set, runs on /speech and /api after the CORS preflight
	// is answered. Nil allows every request, as the original service did.
	Guard Guard
	// RefreshKey enables POST /.edgetoken/refresh/<speech|api> for requests
	// carrying it in the edgetoken-refresh-key header. Empty means the route
	// does not exist.
	RefreshKey string
	// Logger receives warnings and errors; nil means slog.Default().
	Logger *slog.Logger
	// RetryAfter is sent with 503 responses, rounded up to whole seconds.
	// Zero means 5 s.
	RetryAfter time.Duration
}

// RefreshPrefix is the path prefix of the internal refresh route.
const RefreshPrefix = "/.edgetoken/refresh/"

// RefreshKeyHeader is the request header that carries Options.RefreshKey.
const RefreshKeyHeader = "edgetoken-refresh-key"

// Handler serves the token routes. It is safe for concurrent use.
type Handler struct {
	settings   *config.Settings
	tokens     Tokens
	refreshKey []byte
	log        *slog.Logger
	retryAfter string
	guard      Guard
	// speechPrefix is `{"speech_token":"aad#<resource ID>#`, built once.
	speechPrefix []byte

	warnLimit, errorLimit logLimiter
}

// New returns a Handler serving settings' routes with tokens from tokens.
func New(settings *config.Settings, tokens Tokens, opts Options) *Handler {
	h := &Handler{settings: settings, tokens: tokens, log: opts.Logger, guard: opts.Guard}
	if h.log == nil {
		h.log = slog.Default()
	}
	if opts.RefreshKey != "" {
		h.refreshKey = []byte(opts.RefreshKey)
	}
	retry := opts.RetryAfter
	if retry <= 0 {
		retry = 5 * time.Second
	}
	h.retryAfter = strconv.FormatInt(int64((retry+time.Second-1)/time.Second), 10)

	h.speechPrefix = appendJSONChars([]byte(`{"speech_token":"aad#`), settings.SpeechResourceID)
	h.speechPrefix = append(h.speechPrefix, '#')
	return h
}

var (
	bodyNotFound         = []byte(`{"detail":"Not Found"}`)
	bodyMethodNotAllowed = []byte(`{"detail":"Method Not Allowed"}`)
	bodyRejected         = []byte(`{"detail":"token request rejected by the authority"}`)
	bodyUnavailable      = []byte(`{"detail":"token unavailable, retry later"}`)
	bodyTooLarge         = []byte(`{"detail":"Request Entity Too Large"}`)
	bodyPreflightOK      = []byte("OK")
)

const (
	contentJSON  = "application/json"
	allowMethods = "GET, HEAD, POST"
	// corsMethods is Starlette's list when allow_methods is ["*"].
	corsMethods = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
)

// Serve answers one request. The returned Response and its Body must not be
// modified, because error bodies are shared between responses. For HEAD the
// body is left out.
func (h *Handler) Serve(ctx context.Context, r *Request) *Response {
	origin, hasOrigin := r.header("origin")
	if hasOrigin && r.Method == "OPTIONS" {
		if method, ok := r.header("access-control-request-method"); ok {
			return h.preflight(r, origin, method)
		}
	}

	resp := h.route(ctx, r)
	if r.Method == "HEAD" {
		resp.Body = nil
	}
	h.addCORS(r, resp, origin, hasOrigin)
	return resp
}

func (h *Handler) route(ctx context.Context, r *Request) *Response {
	switch r.Path {
	case "/speech":
		if !tokenMethod(r.Method) {
			return methodNotAllowed()
		}
		if resp := h.check(ctx, r); resp != nil {
			return resp
		}
		return h.speech(ctx)
	case "/api":
		if !h.settings.APIConfigured() {
			return notFound()
		}
		if !tokenMethod(r.Method) {
			return methodNotAllowed()
		}
		if resp := h.check(ctx, r); resp != nil {
			return resp
		}
		return h.api(ctx)
	}
	if strings.HasPrefix(r.Path, RefreshPrefix) {
		return h.refresh(ctx, r)
	}
	return notFound()
}

// check runs the guard, if any, and returns its rejection.
func (h *Handler) check(ctx context.Context, r *Request) *Response {
	if h.guard == nil {
		return nil
	}
	resp, err := h.guard.Check(ctx, r)
	if err != nil {
		h.error("access check failed", "", err)
	}
	return resp
}

func tokenMethod(m string) bool { return m == "GET" || m == "HEAD" || m == "POST" }

func (h *Handler) speech(ctx context.Context) *Response {
	t, ok, resp := h.get(ctx, h.settings.SpeechScope)
	if !ok {
		return resp
	}
	body := make([]byte, 0, len(h.speechPrefix)+len(t.Value)+2)
	body = append(body, h.speechPrefix...)
	body = appendJSONChars(body, t.Value)
	body = append(body, '"', '}')
	return tokenResponse(body)
}

func (h *Handler) api(ctx context.Context) *Response {
	t, ok, resp := h.get(ctx, h.settings.APIScope)
	if !ok {
		return resp
	}
	omit := h.guard != nil && h.guard.OmitTokenFromBody()
	body := make([]byte, 0, len(t.Value)+48)
	if omit {
		body = append(body, `{"expires_on":"`...)
	} else {
		body = append(body, `{"access_token":`...)
		body = appendJSONString(body, t.Value)
		body = append(body, `,"expires_on":"`...)
	}
	body = appendJSONInt(body, t.ExpiresOn.Unix())
	body = append(body, `"}`...)
	out := tokenResponse(body)
	if h.guard != nil {
		if cookie, ok := h.guard.Cookie(t.Value, t.ExpiresOn); ok {
			out.Header = append(out.Header, cookie)
		}
	}
	return out
}

// get returns a token for scope, or the error response to send instead.
func (h *Handler) get(ctx context.Context, scope string) (token.Token, bool, *Response) {
	t, err := h.tokens.Get(ctx, scope)
	if err == nil && t.Value != "" {
		return t, true, nil
	}
	if err != nil && t.Value != "" && token.IsUsable(err) {
		if reported(err) {
			h.log.Debug("serving the stored token during a backoff", "scope", scope, "error", err)
		} else {
			h.warn("serving a token despite a failure", scope, err)
		}
		return t, true, nil
	}
	return token.Token{}, false, h.tokenError(scope, err)
}

// refresh serves POST /.edgetoken/refresh/<speech|api>. Every request that
// is not a valid refresh gets 404, so the route stays hidden.
func (h *Handler) refresh(ctx context.Context, r *Request) *Response {
	if h.refreshKey == nil || r.Method != "POST" {
		return notFound()
	}
	var scope string
	switch r.Path[len(RefreshPrefix):] {
	case "speech":
		scope = h.settings.SpeechScope
	case "api":
		scope = h.settings.APIScope
	}
	key, _ := r.header(RefreshKeyHeader)
	if scope == "" || subtle.ConstantTimeCompare([]byte(key), h.refreshKey) != 1 {
		return notFound()
	}

	// The host's first run after start sends ?warm=1, so a token that a
	// client's request already fetched is kept instead of fetched again.
	var t token.Token
	var err error
	if r.Query == "warm=1" {
		t, err = h.tokens.Get(ctx, scope)
		if err != nil && t.Value != "" && token.IsUsable(err) {
			err = nil
		}
	} else {
		t, err = h.tokens.Refresh(ctx, scope)
	}
	if err != nil || t.Value == "" {
		// A stale token is still served by Get, but the refresh itself
		// failed: the host retries after Retry-After.
		return h.tokenError(scope, err)
	}
	body := make([]byte, 0, 48)
	body = append(body, `{"expires_on":`...)
	body = appendJSONInt(body, t.ExpiresOn.Unix())
	body = append(body, `,"refresh_on":`...)
	body = appendJSONInt(body, t.RefreshOn.Unix())
	body = append(body, '}')
	return tokenResponse(body)
}

// tokenError maps a token failure to 502 when the authority rejected the
// request and to 503 otherwise. The body never carries the error text,
// which may quote the authority's response.
func (h *Handler) tokenError(scope string, err error) *Response {
	if err == nil {
		err = errEmptyToken
	}
	retryAfter := h.retryAfter
	if d, ok := token.RetryAfter(err); ok {
		retryAfter = strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
	}
	switch {
	case reported(err):
		// The caller that made the failed fetch logged it.
		h.log.Debug("no token during a backoff", "scope", scope, "error", err)
	case token.IsRejected(err):
		h.error("token request rejected", scope, err)
	case token.IsUsable(err):
		h.warn("token refresh failed", scope, err)
	default:
		h.error("no token available", scope, err)
	}
	if token.IsRejected(err) {
		return &Response{Status: 502, Header: []Field{
			{"content-type", contentJSON}, {"cache-control", "no-store"},
		}, Body: bodyRejected}
	}
	return &Response{Status: 503, Header: []Field{
		{"content-type", contentJSON}, {"cache-control", "no-store"}, {"retry-after", retryAfter},
	}, Body: bodyUnavailable}
}

// reported reports whether err is a backoff that another caller's failed
// fetch started, so that failure has been logged already.
func reported(err error) bool {
	var be *token.BackoffError
	return errors.As(err, &be) && be.Err == nil
}

type serviceError string

func (e serviceError) Error() string { return string(e) }

const errEmptyToken = serviceError("the token source returned an empty token")

func tokenResponse(body []byte) *Response {
	return &Response{Status: 200, Header: []Field{
		{"content-type", contentJSON}, {"cache-control", "no-store"},
	}, Body: body}
}

func notFound() *Response {
	return &Response{Status: 404, Header: []Field{{"content-type", contentJSON}}, Body: bodyNotFound}
}

func methodNotAllowed() *Response {
	return &Response{Status: 405, Header: []Field{
		{"content-type", contentJSON}, {"allow", allowMethods},
	}, Body: bodyMethodNotAllowed}
}

func tooLarge() *Response {
	return &Response{Status: 413, Header: []Field{{"content-type", contentJSON}}, Body: bodyTooLarge}
}

// header returns the first field named name (lower case).
func (r *Request) header(name string) (string, bool) {
	for _, f := range r.Header {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

// logLimiter lets one message through per interval and counts the rest, so
// an outage does not log once per request.
type logLimiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

const logInterval = 10 * time.Second

func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < logInterval {
		l.suppressed++
		return false, 0
	}
	l.last = now
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

func (h *Handler) warn(msg, scope string, err error) {
	if ok, n := h.warnLimit.allow(time.Now()); ok {
		h.log.Warn(msg, "scope", scope, "error", err, "suppressed", n)
	}
}

func (h *Handler) error(msg, scope string, err error) {
	if ok, n := h.errorLimit.allow(time.Now()); ok {
		h.log.Error(msg, "scope", scope, "error", err, "suppressed", n)
	}
}
