// Package ops serves the host's operational endpoints, /healthz, /readyz
// and /metrics, and holds what they report: request, fetch and upstream
// counters, the stored tokens' state and the logger setup.
package ops

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// Paths of the operational endpoints.
const (
	PathHealth  = "/healthz"
	PathReady   = "/readyz"
	PathMetrics = "/metrics"
)

// Handler serves the operational endpoints. Only GET and HEAD are allowed.
type Handler struct {
	Metrics *Metrics
	Tokens  *Tokens
}

// Paths returns the paths h serves.
func (h *Handler) Paths() []string {
	return []string{PathHealth, PathReady, PathMetrics}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, r, http.StatusMethodNotAllowed, map[string]any{"detail": "Method Not Allowed"})
		return
	}
	w.Header().Set("Cache-Control", "no-store")

	switch r.URL.Path {
	case PathHealth:
		// The process is alive and serving HTTP. Nothing else is checked,
		// so a platform restarts the host only when it stops responding.
		writeJSON(w, r, http.StatusOK, map[string]any{"status": "ok"})
	case PathReady:
		missing := h.Tokens.Missing()
		if len(missing) == 0 {
			writeJSON(w, r, http.StatusOK, map[string]any{"status": "ready"})
			return
		}
		writeJSON(w, r, http.StatusServiceUnavailable, struct {
			Status  string   `json:"status"`
			Missing []string `json:"missing"`
		}{"not ready", missing})
	case PathMetrics:
		var buf bytes.Buffer
		_, _ = h.Metrics.WriteTo(&buf)
		w.Header().Set("Content-Type", ContentTypeMetrics)
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(buf.Bytes())
		}
	default:
		writeJSON(w, r, http.StatusNotFound, map[string]any{"detail": "Not Found"})
	}
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
