//go:build wasip1

// Command component is the token service guest: a wasip1 reactor that
// serves wasi:http/incoming-handler requests. It reads its settings from
// the config store, keeps tokens in the key-value store and fetches them
// through wasi:http/outgoing-handler, so it runs unchanged on our wazero
// host and on WASI HTTP runtimes such as Spin.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/edgetoken/edgetoken/component/internal/wasiconfig"
	"github.com/edgetoken/edgetoken/component/internal/wasihttp"
	"github.com/edgetoken/edgetoken/component/internal/wasikv"
	"github.com/edgetoken/edgetoken/internal/access"
	"github.com/edgetoken/edgetoken/internal/config"
	"github.com/edgetoken/edgetoken/internal/entra"
	"github.com/edgetoken/edgetoken/internal/service"
	"github.com/edgetoken/edgetoken/internal/token"
)

func main() {}

func init() {
	// Every pooled instance keeps its own heap, so a lower GC target saves
	// memory per instance. In the benchmark, 25 cut resident memory per
	// instance from about 12.5 to 10.3 MiB. The guest's CPU per request
	// stayed within noise of the default's, because a request allocates
	// little (see BENCHMARKS.md).
	debug.SetGCPercent(25)
	wasihttp.Handle(serve)
}

// logger writes to the runtime's stderr. Messages never carry a token or
// secret: the packages below log scopes, codes and IDs only.
// logLevel is read from the config store's edgetoken_log_level (our host
// copies its -log-level there) on each instance's first request.
var logLevel = new(slog.LevelVar)

var logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))

// The handler is built on the first request of each instance and kept for
// the instance's life. The config store remains the source of truth: an
// edge instance lives for one request, and our host's settings do not
// change while it runs.
var (
	setupOnce sync.Once
	handler   *service.Handler
	setupErr  error
)

var misconfigured = &service.Response{
	Status: 500,
	Header: []service.Field{{Name: "content-type", Value: "application/json"}, {Name: "cache-control", Value: "no-store"}},
	Body:   []byte(`{"detail":"token service is misconfigured; see its log"}`),
}

func serve(ctx context.Context, req *service.Request) *service.Response {
	setupOnce.Do(func() { handler, setupErr = setup() })
	if setupErr != nil {
		logger.Error("setup failed", "error", setupErr)
		return misconfigured
	}
	return handler.Serve(ctx, req)
}

// lookup reads a setting by its environment name from the config store,
// where it is kept in lower case because Spin variable names must be.
func lookup(name string) (string, bool) {
	v, ok, err := wasiconfig.Get(strings.ToLower(name))
	if err != nil {
		logger.Error("config store read failed", "key", strings.ToLower(name), "error", err)
		return "", false
	}
	return v, ok
}

func setup() (*service.Handler, error) {
	if v, ok := lookup("EDGETOKEN_LOG_LEVEL"); ok && v != "" {
		if err := logLevel.UnmarshalText([]byte(v)); err != nil {
			logger.Warn("invalid edgetoken_log_level, logging at info", "value", v)
		}
	}
	settings, err := config.Load(lookup)
	if err != nil {
		return nil, err
	}
	accessSettings, err := access.LoadSettings(lookup)
	if err != nil {
		return nil, err
	}

	client := &http.Client{Transport: wasihttp.Transport{}}
	store := wasikv.New("default")
	opts := service.Options{Logger: logger}
	refreshKey, onHost := lookup("REFRESH_KEY")
	if onHost {
		opts.RefreshKey = refreshKey
	}

	var tokens service.Tokens
	if settings.Credential.HostOnly() {
		// Only our host sets refresh_key, and only it can run the
		// developer tool that fetches these tokens.
		if !onHost {
			return nil, fmt.Errorf("%s=%s runs a developer tool, which only the edgetoken host can do; "+
				"at the edge use a client secret, a certificate or a managed identity",
				config.EnvTokenCredentials, settings.Credential)
		}
		cache := token.NewCache(store, nil, token.CacheOptions{MinLifetime: settings.MinLifetime})
		tokens = hostFetched{cache: cache, store: store}
	} else {
		credential, err := entra.New(entra.OptionsFromSettings(settings, lookup), client)
		if err != nil {
			return nil, err
		}
		tokens = token.NewCache(store, credential, token.CacheOptions{MinLifetime: settings.MinLifetime})
	}
	if accessSettings.Enabled() {
		opts.Guard = access.New(accessSettings, store, client, nil)
	}
	return service.New(settings, tokens, opts), nil
}

// errNotFetched is a passing failure, so the client gets 503 with
// Retry-After while the host's first fetch is still running.
var errNotFetched = errors.New("no usable token stored yet: the host fetches tokens for this credential")

// hostFetched serves the tokens the host fetched and stored. It never
// fetches, so no failure of its own blocks the host's next refresh.
type hostFetched struct {
	cache *token.Cache
	store token.Store
}

// hostFetchWait bounds how long a request waits for the host's first
// fetch, which runs a developer tool as a subprocess and so can take
// seconds at start.
const hostFetchWait = 10 * time.Second

// Get returns the stored token. Without a usable one it waits for the
// host's fetch, but only while no fetch has failed: the host's failed fetch
// leaves a backoff record, and then waiting would only hold this instance.
func (h hostFetched) Get(ctx context.Context, scope string) (token.Token, error) {
	deadline := time.Now().Add(hostFetchWait)
	for {
		t, ok, err := h.cache.Stored(scope)
		if err != nil {
			return token.Token{}, err
		}
		if ok && h.cache.Usable(t, time.Now()) {
			return t, nil
		}
		if _, failed, _ := h.store.Get(token.BackoffKey(scope)); failed {
			return token.Token{}, errNotFetched
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return token.Token{}, errNotFetched
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h hostFetched) Refresh(ctx context.Context, scope string) (token.Token, error) {
	return token.Token{}, errNotFetched
}
