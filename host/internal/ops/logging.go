package ops

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Log formats.
const (
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// ParseLogLevel parses debug, info, warn or error, in any case.
func ParseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		if err := l.UnmarshalText([]byte(s)); err != nil {
			return 0, err
		}
		return l, nil
	}
	return 0, fmt.Errorf("log level %q is invalid: want debug, info, warn or error", s)
}

// NewLogger returns a logger writing to w in format ("text" or "json") at
// level and above. A record logged with a context that carries a request ID
// (see ContextWithRequestID) gets a request_id attribute.
func NewLogger(w io.Writer, format string, level slog.Level) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(format) {
	case LogFormatText:
		h = slog.NewTextHandler(w, opts)
	case LogFormatJSON:
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q is invalid: want text or json", format)
	}
	return slog.New(requestIDHandler{h}), nil
}

type requestIDKey struct{}

// ContextWithRequestID returns ctx carrying the request ID id.
func ContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request ID ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestIDHandler adds the context's request ID to each record, so that
// lines logged deep in a request (an upstream call of the guest) can be
// matched with the request's own line.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
