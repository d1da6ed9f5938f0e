// Package server is the host's HTTP front end. It applies the limits the
// guest cannot (body and header size, timeouts, concurrent requests) and
// keeps the internal refresh route out of reach of outside clients. It gives
// each request an ID and logs it. It serves the host's own routes (health
// and metrics) and passes every other request to the guest as a
// wasihost.Request.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/edgetoken/edgetoken/host/internal/ops"
	"github.com/edgetoken/edgetoken/host/internal/wasihost"
	"github.com/edgetoken/edgetoken/internal/config"
	"github.com/edgetoken/edgetoken/internal/service"
)

// Defaults used when the matching Config field is zero.
const (
	DefaultMaxBodyBytes      = 64 << 10
	DefaultMaxHeaderBytes    = 16 << 10
	DefaultMaxInFlight       = 512
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 15 * time.Second
	// DefaultWriteTimeout exceeds the pool's call time limit, so a slow
	// guest call ends with the host's 504 rather than a cut connection.
	DefaultWriteTimeout = 45 * time.Second
	DefaultIdleTimeout  = 60 * time.Second
)

// InternalPrefix is the path prefix of the routes only the host may call.
const InternalPrefix = "/.edgetoken"

// RefreshKeyHeader carries the key that authorizes the internal refresh
// route. It is removed from every outside request.
const RefreshKeyHeader = "Edgetoken-Refresh-Key"

// ClientAddrHeader carries the direct peer's "ip:port" to the guest, as
// Spin sends it. The host always sets it from the connection, replacing any
// value the client sent, because the guest's rate limits count by it.
const ClientAddrHeader = "Spin-Client-Addr"

// RequestIDHeader is read from the request when its value is sane and is set
// on every response.
const RequestIDHeader = "X-Request-Id"

// Handler runs one request in the guest. An error means the guest produced
// no response; an error wrapping context.DeadlineExceeded means the call
// ran out of time.
type Handler func(ctx context.Context, req *wasihost.Request) (*wasihost.Response, error)

// Config describes a Server. Handler is required; the zero value of every
// other field means its default.
type Config struct {
	Handler Handler

	// MaxBodyBytes caps a request body; a larger one gets 413.
	MaxBodyBytes int64
	// MaxHeaderBytes caps the request line and headers; a larger request
	// gets 431. The server checks the limit itself, so the answer has the
	// guest's error shape and CORS fields. net/http reads up to twice the
	// limit (plus its own 4 KiB of slack) before the handler runs; a request
	// larger still is cut off there and gets net/http's plain-text 431,
	// which carries no CORS fields.
	MaxHeaderBytes int
	// MaxInFlight caps concurrent requests; one more gets 503 with
	// Retry-After instead of waiting.
	MaxInFlight int

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration

	// Routes are served by the host itself, matched exactly on the URL
	// path. They bypass MaxInFlight, so a health check still gets a response
	// while every guest instance is busy.
	Routes map[string]http.Handler

	// CORS, when set, holds the service's settings: the errors the server
	// answers itself (413, 431, busy 503, 504, 500) then carry the CORS
	// fields the guest would add (service.CORSFields), so a browser can
	// read them. CORSCredentials adds Access-Control-Allow-Credentials for
	// a listed origin, as the guest does in cookie mode.
	CORS            *config.Settings
	CORSCredentials bool

	// Observe, when set, is called once per request after the response is
	// written, with the URL path, the status and the time taken.
	Observe func(path string, status int, d time.Duration)

	Logger *slog.Logger // defaults to slog.Default()
}

// Server serves the guest over HTTP.
type Server struct {
	handler  Handler
	routes   map[string]http.Handler
	observe  func(string, int, time.Duration)
	maxBody  int64
	maxHead  int
	cors     *config.Settings
	corsCred bool
	inFlight chan struct{} // one element per request in progress
	log      *slog.Logger
	http     *http.Server
}

// New returns a Server for cfg. It does not listen yet.
func New(cfg Config) *Server {
	s := &Server{
		handler:  cfg.Handler,
		routes:   cfg.Routes,
		observe:  cfg.Observe,
		maxBody:  orDefault(cfg.MaxBodyBytes, DefaultMaxBodyBytes),
		maxHead:  orDefault(cfg.MaxHeaderBytes, DefaultMaxHeaderBytes),
		cors:     cfg.CORS,
		corsCred: cfg.CORSCredentials,
		inFlight: make(chan struct{}, orDefault(cfg.MaxInFlight, DefaultMaxInFlight)),
		log:      cfg.Logger,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.http = &http.Server{
		Handler:           s,
		MaxHeaderBytes:    2 * s.maxHead,
		ReadHeaderTimeout: orDefault(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       orDefault(cfg.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      orDefault(cfg.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       orDefault(cfg.IdleTimeout, DefaultIdleTimeout),
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Serve accepts connections on ln until Shutdown. It returns
// http.ErrServerClosed after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.http.Serve(ln)
}

// Shutdown stops accepting connections and waits, until ctx ends, for the
// requests in progress to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.http.Shutdown(ctx)
}

// InFlight returns the number of requests in progress.
func (s *Server) InFlight() int {
	return len(s.inFlight)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := requestID(r.Header.Get(RequestIDHeader))
	w.Header().Set(RequestIDHeader, id)
	rec := &statusRecorder{ResponseWriter: w}

	if headerSize(r) > s.maxHead {
		s.writeDetail(rec, r, http.StatusRequestHeaderFieldsTooLarge, "Request Header Fields Too Large")
	} else if native, ok := s.routes[r.URL.Path]; ok {
		native.ServeHTTP(rec, r)
	} else {
		s.serve(rec, r, id)
	}
	if rec.status == 0 {
		rec.status = http.StatusOK // the handler wrote nothing
	}

	d := time.Since(start)
	if s.observe != nil {
		s.observe(r.URL.Path, rec.status, d)
	}
	s.log.Info("request",
		"method", r.Method,
		"path", r.URL.Path,
		"status", rec.status,
		"duration", d,
		"request_id", id)
}

func (s *Server) serve(w *statusRecorder, r *http.Request, id string) {
	select {
	case s.inFlight <- struct{}{}:
		defer func() { <-s.inFlight }()
	default:
		w.Header().Set("Retry-After", "1")
		s.writeDetail(w, r, http.StatusServiceUnavailable, "server busy")
		return
	}

	if isInternal(r) {
		s.writeDetail(w, r, http.StatusNotFound, "Not Found")
		return
	}
	r.Header.Del(RefreshKeyHeader)
	r.Header.Set(ClientAddrHeader, r.RemoteAddr)

	body, err := s.readBody(w, r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.writeDetail(w, r, http.StatusRequestEntityTooLarge, "Request body too large")
			return
		}
		s.log.Info("read request body", "request_id", id, "error", err)
		s.writeDetail(w, r, http.StatusBadRequest, "Invalid request body")
		return
	}

	// A HEAD request reaches the guest as GET, so the response carries the
	// Content-Length of the GET body, as HTTP specifies for HEAD. net/http
	// then sends no body.
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	req := &wasihost.Request{
		Method:        method,
		Scheme:        "http",
		Authority:     r.Host,
		PathWithQuery: r.URL.RequestURI(),
		Header:        r.Header,
		Body:          body,
	}
	if r.TLS != nil {
		req.Scheme = "https"
	}

	// The ID travels with the guest call, so that a line the host logs
	// during it, such as an upstream request, carries the same request_id.
	resp, err := s.handler(ops.ContextWithRequestID(r.Context(), id), req)
	if err != nil {
		s.writeError(w, r, id, err)
		return
	}
	writeResponse(w, resp)
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > s.maxBody {
		return nil, &http.MaxBytesError{Limit: s.maxBody}
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, id string, err error) {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		s.log.Error("guest call timed out", "request_id", id, "error", err)
		s.writeDetail(w, r, http.StatusGatewayTimeout, "Gateway Timeout")
	case errors.Is(err, context.Canceled):
		// The client left while the request waited for an instance.
		s.log.Info("request canceled", "request_id", id, "error", err)
		s.writeDetail(w, r, http.StatusServiceUnavailable, "server busy")
	default:
		s.log.Error("guest call failed", "request_id", id, "error", err)
		s.writeDetail(w, r, http.StatusInternalServerError, "Internal Server Error")
	}
}

// isInternal reports whether the request is for the host-only routes, in
// any spelling that could reach them: a percent-encoded path, a path with
// "." or ".." segments, or repeated slashes.
func isInternal(r *http.Request) bool {
	for _, p := range []string{r.URL.Path, r.URL.EscapedPath(), r.RequestURI} {
		p = strings.ToLower(path.Clean("/" + p))
		if p == InternalPrefix || strings.HasPrefix(p, InternalPrefix+"/") {
			return true
		}
	}
	return false
}

// hopHeaders are connection-level fields that describe the guest's message,
// not the one net/http writes.
var hopHeaders = []string{"Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade",
	"Proxy-Connection", "Te", "Trailer", "Content-Length"}

func writeResponse(w http.ResponseWriter, resp *wasihost.Response) {
	h := w.Header()
	for name, values := range resp.Header {
		if strings.EqualFold(name, RequestIDHeader) {
			continue
		}
		h[http.CanonicalHeaderKey(name)] = append([]string(nil), values...)
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	status := resp.Status
	if status < 100 || status > 999 {
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp.Body)
}

// writeDetail writes an error in the shape the guest uses,
// {"detail":"<message>"}, with the CORS fields the guest would add for r.
// message must need no JSON escaping.
func (s *Server) writeDetail(w http.ResponseWriter, r *http.Request, status int, message string) {
	body := `{"detail":"` + message + `"}`
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if s.cors != nil {
		// The guest reads the first Origin field, so the host does too.
		origins := r.Header.Values("Origin")
		_, cookie := r.Header["Cookie"]
		fields := service.CORSFields(s.cors, r.Header.Get("Origin"), len(origins) > 0,
			cookie, s.corsCred)
		for _, f := range fields {
			h.Add(f.Name, f.Value)
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// headerSize returns the size of r's request line and header fields as they
// arrived, give or take the spelling of line ends, for the MaxHeaderBytes
// check.
func headerSize(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	n += len("Host: ") + len(r.Host) + 2 // net/http moves Host out of r.Header
	for name, values := range r.Header {
		for _, v := range values {
			n += len(name) + 2 + len(v) + 2
		}
	}
	return n + 2
}

// requestID returns the client's ID when it is 1 to 128 characters of
// letters, digits and "-._:", and a new random one otherwise, so a log line
// never carries arbitrary client text.
func requestID(client string) string {
	if client != "" && len(client) <= 128 && strings.Trim(client,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:") == "" {
		return client
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusRecorder remembers the status written, for the log line.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}
