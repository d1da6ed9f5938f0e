package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/edgetoken/edgetoken/host/internal/egress"
	"github.com/edgetoken/edgetoken/host/internal/ops"
	"github.com/edgetoken/edgetoken/host/internal/pool"
	"github.com/edgetoken/edgetoken/host/internal/refresher"
	"github.com/edgetoken/edgetoken/host/internal/server"
	"github.com/edgetoken/edgetoken/host/internal/wasihost"
	"github.com/edgetoken/edgetoken/internal/access"
	"github.com/edgetoken/edgetoken/internal/authority"
	"github.com/edgetoken/edgetoken/internal/config"
	"github.com/edgetoken/edgetoken/internal/token"
)

// configError is a problem with the environment, reported with exit code 2.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }

// process is the running host: what start made, in the order close undoes.
type process struct {
	log       *slog.Logger
	authority *authority.Server // nil with real credentials
	pool      *pool.Pool
	server    *server.Server
	served    chan error     // receives Serve's result
	admin     *server.Server // nil unless -admin-addr is set
	adminDone chan error     // receives the admin server's Serve result
	refresher *refresher.Refresher

	addr, adminAddr string // bound addresses, for tests
	metrics         *ops.Metrics
	tokens          token.Store // the store shared by the guest instances
}

// start loads the configuration, starts the pool and the server, and warms
// the tokens in the background.
func start(ctx context.Context, f *flags, env func(string) (string, bool), log *slog.Logger) (*process, error) {
	p := &process{log: log}
	ok := false
	defer func() {
		if !ok {
			_ = p.close(5 * time.Second)
		}
	}()

	wasm, err := loadGuest(f.wasmPath)
	if err != nil {
		return nil, err
	}

	// Every setting is checked before anything starts, so a bad value
	// stops the host before the local authority logs its warnings.
	if _, err := config.Load(env); err != nil {
		return nil, &configError{err}
	}
	if _, err := access.LoadSettings(env); err != nil {
		return nil, &configError{err}
	}

	// Serving tokens that are not real must be asked for: a deployment
	// that lost its credential variables must not look healthy.
	if !f.localAuthority && !hasCredentials(env) {
		return nil, &configError{errNoCredential}
	}
	if err := checkGuest(wasm, f.wasmPath); err != nil {
		return nil, &configError{err}
	}

	lookup := env
	if f.localAuthority {
		p.authority, lookup, err = startLocalAuthority(env, log)
		if err != nil {
			return nil, err
		}
	}
	settings, err := config.Load(lookup)
	if err != nil {
		return nil, &configError{err}
	}
	refreshKey, err := newRefreshKey()
	if err != nil {
		return nil, err
	}
	store, err := newConfigStore(lookup, settings, refreshKey)
	if err != nil {
		return nil, &configError{err}
	}
	// The guest logs at the host's level.
	store.values[keyLogLevel] = strings.ToLower(f.logLevel.String())
	// Log the credential the guest will choose, and stop here if it
	// cannot be built. Developer tool credentials run in the host instead.
	if !settings.Credential.HostOnly() {
		if err := logCredential(log, settings, store); err != nil {
			return nil, &configError{err}
		}
	}

	accessAllowed, err := egress.AccessOrigins(lookup)
	if err != nil {
		return nil, &configError{err}
	}
	client, err := egress.NewClient(egress.Config{
		Allowed: append(allowedOrigins(settings), accessAllowed...),
		Denied:  wasihost.ErrRequestDenied,
		// nil unless the local authority runs; then it trusts its certificate.
		Base: localAuthorityTransport(p.authority),
	})
	if err != nil {
		return nil, &configError{err}
	}
	scopes := []ops.Scope{{Name: "speech", Scope: settings.SpeechScope}}
	if settings.APIConfigured() {
		scopes = append(scopes, ops.Scope{Name: "api", Scope: settings.APIScope})
	}
	p.metrics = ops.NewMetrics()
	client.Transport = &ops.CountingTransport{Base: client.Transport, Metrics: p.metrics, Logger: log}
	tokens := &ops.CountingStore{Store: token.NewMemoryStore(), Metrics: p.metrics, Scopes: scopes}
	p.tokens = tokens

	var hostCache *token.Cache
	if settings.Credential.HostOnly() {
		var name string
		hostCache, name, err = newDeveloperCache(settings, tokens)
		if err != nil {
			return nil, &configError{err}
		}
		log.Info("token credential", "credential", name, "client_id", "(developer sign-in)",
			"chosen_by", config.EnvTokenCredentials, "fetched_by", "host")
	}

	log.Info("preparing the guest: the first start compiles it, which takes seconds; later starts load it from the cache",
		"cache_dir", f.cacheDir)
	p.pool, err = pool.New(ctx, pool.Config{
		Wasm:             wasm,
		Size:             f.poolSize,
		CacheDir:         f.cacheDir,
		MemoryLimitPages: uint32(f.memoryMiB) * 16, // 16 pages of 64 KiB per MiB
		TrustGuestLoops:  !f.loopChecks,
		Logger:           log,
		Register: func(ctx context.Context, r wazero.Runtime) error {
			return wasihost.Register(ctx, r, wasihost.Options{
				Store:      tokens,
				Config:     store.get,
				ConfigKeys: store.keys,
				Client:     client,
			})
		},
	})
	if err != nil {
		return nil, err
	}
	if err := p.pool.Run(ctx, checkExports); err != nil {
		return nil, &configError{fmt.Errorf("guest module %s: %w; build the guest with make guest", guestName(f.wasmPath), err)}
	}

	opsHandler := &ops.Handler{
		Metrics: p.metrics,
		Tokens:  ops.NewTokens(tokens, scopes, settings.MinLifetime, nil),
	}
	addGauges(p.metrics, p.pool, opsHandler.Tokens, wasm)
	accessSettings, err := access.LoadSettings(lookup)
	if err != nil {
		return nil, &configError{err}
	}
	// Cookie mode with a list of origins is the one case with credentials;
	// access.LoadSettings rejects cookie mode with "*".
	corsCredentials := accessSettings.Cookie.Enabled && !settings.AllowAllOrigins
	if err := p.listen(f, opsHandler, settings, corsCredentials); err != nil {
		return nil, err
	}
	log.Info("listening", "addr", p.addr, "admin_addr", p.adminAddr,
		"pool", p.pool.Stats().Size, "api", settings.APIConfigured())

	targets := []refresher.Target{{Name: "speech", Interval: settings.SpeechRefreshInterval}}
	if settings.APIConfigured() {
		targets = append(targets, refresher.Target{Name: "api"})
	}
	refresh := guestRefresh(p.pool.Do, refreshKey)
	if hostCache != nil {
		byName := map[string]string{"speech": settings.SpeechScope, "api": settings.APIScope}
		refresh = nativeRefresh(hostCache, byName)
	}
	p.refresher = refresher.New(refresher.Config{
		Targets: targets,
		Refresh: countFailures(refresh, p.metrics),
		Logger:  log,
	})
	go func() {
		// The server already serves requests while the tokens warm. A
		// request that arrives first makes the guest fetch on its own.
		if err := p.refresher.Warm(ctx); err != nil {
			if hostCache != nil {
				// With a developer tool only the host fetches, so a failure
				// here usually means the tool is missing or signed out.
				log.Error("the developer tool credential failed; requests get 503 until a refresh succeeds",
					"credential", settings.Credential, "error", err)
				return
			}
			log.Warn("not every token was fetched at start; requests fetch them when needed",
				"error", err)
			return
		}
		log.Info("ready: tokens fetched")
	}()

	ok = true
	return p, nil
}

// close stops the refresher, lets the requests in progress finish within
// wait, and closes the pool and the local authority.
func (p *process) close(wait time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	if p.refresher != nil {
		p.refresher.Close()
	}
	var errs []error
	if p.server != nil {
		if err := p.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop server: %w", err))
		}
		if err := <-p.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("serve: %w", err))
		}
	}
	if p.admin != nil {
		if err := p.admin.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop admin server: %w", err))
		}
		if err := <-p.adminDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("serve admin: %w", err))
		}
	}
	if p.pool != nil {
		if err := p.pool.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if p.authority != nil {
		_ = p.authority.Close()
	}
	return errors.Join(errs...)
}

// loadGuest reads the guest module from path, or returns the embedded one
// when path is empty.
func loadGuest(path string) ([]byte, error) {
	if path == "" {
		if len(embeddedGuest) == 0 {
			return nil, &configError{errors.New("no guest module: this binary was built without " +
				"one, so pass -wasm PATH or set EDGETOKEN_WASM")}
		}
		return embeddedGuest, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &configError{fmt.Errorf("read guest module: %w", err)}
	}
	return b, nil
}

// checkGuest rejects a file that is not a WebAssembly core module before
// the compiler does, with a message that names the file to pass instead.
func checkGuest(wasm []byte, path string) error {
	name := guestName(path)
	switch {
	case len(wasm) < 8 || string(wasm[:4]) != "\x00asm":
		return fmt.Errorf("guest module %s is not a WebAssembly module; pass the core module that make guest builds (build/guest.wasm)", name)
	case wasm[4] == 0x0d && wasm[6] == 0x01:
		// A component's header has layer 1 after its version.
		return fmt.Errorf("guest module %s is a WebAssembly component; the host runs the core module "+
			"that make guest builds (build/guest.wasm), and components run on Spin or jco", name)
	}
	return nil
}

// checkExports fails when the module does not export the incoming-handler
// function, so a wrong file stops the host at start instead of failing
// every request with 500.
func checkExports(_ context.Context, mod api.Module) error {
	if mod.ExportedFunction(wasihost.Export) == nil {
		return fmt.Errorf("it does not export %s", wasihost.Export)
	}
	return nil
}

func guestName(path string) string {
	if path == "" {
		return "(built in)"
	}
	return path
}

// allowedOrigins lists where the guest may send requests: the authority,
// the App Service identity endpoint when set, and IMDS (IMDS_ENDPOINT) only
// when managed identity is chosen explicitly without one, which is the only
// case the guest's credential chain uses IMDS.
func allowedOrigins(s *config.Settings) []string {
	allowed := []string{s.AuthorityHost}
	if s.IdentityEndpoint != "" {
		allowed = append(allowed, s.IdentityEndpoint)
	} else if s.Credential == config.CredentialManagedIdentity {
		allowed = append(allowed, s.IMDSEndpoint)
	}
	return allowed
}

func newRefreshKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate refresh key: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// listen starts the service's server on f.addr and, when f.adminAddr is set,
// the admin server there. The operational endpoints are served on the admin
// address when there is one, and on the service's address otherwise, never
// on both.
func (p *process) listen(f *flags, opsHandler *ops.Handler, cors *config.Settings, corsCredentials bool) error {
	routes := map[string]http.Handler{}
	for _, path := range opsHandler.Paths() {
		routes[path] = opsHandler
	}

	publicRoutes := routes
	if f.adminAddr != "" {
		publicRoutes = nil
		ln, err := net.Listen("tcp", f.adminAddr)
		if err != nil {
			return fmt.Errorf("listen on %s (-admin-addr): %w", f.adminAddr, err)
		}
		p.adminAddr = ln.Addr().String()
		p.admin = server.New(server.Config{
			Handler: notFound,
			Routes:  routes,
			Observe: p.metrics.ObserveRequest,
			Logger:  p.log.With("listener", "admin"),
		})
		p.adminDone = make(chan error, 1)
		go func() { p.adminDone <- p.admin.Serve(ln) }()
	}

	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.addr, err)
	}
	p.addr = ln.Addr().String()
	p.server = server.New(server.Config{
		Handler: p.pool.Do,
		Routes:  publicRoutes,
		Observe: p.metrics.ObserveRequest,
		Logger:  p.log,
		// The error responses that the host makes itself carry the guest's
		// CORS fields, so a browser can read them.
		CORS:            cors,
		CORSCredentials: corsCredentials,
	})
	p.served = make(chan error, 1)
	go func() { p.served <- p.server.Serve(ln) }()
	return nil
}

// notFound returns 404 in the service's error shape for every request on
// the admin address other than the operational endpoints.
func notFound(context.Context, *wasihost.Request) (*wasihost.Response, error) {
	return &wasihost.Response{
		Status: http.StatusNotFound,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   []byte(`{"detail":"Not Found"}`),
	}, nil
}

// addGauges registers the metrics read at scrape time: the pool's
// instances, the stored tokens' remaining lifetimes and the build.
func addGauges(m *ops.Metrics, pl *pool.Pool, tokens *ops.Tokens, wasm []byte) {
	m.AddGauges("edgetoken_pool_instances", "gauge",
		"Guest instances by state: busy in a call, idle, or starting to replace a failed one.",
		func() []ops.Gauge {
			st := pl.Stats()
			return []ops.Gauge{
				{Labels: []ops.Label{{Name: "state", Value: "busy"}}, Value: float64(st.Busy)},
				{Labels: []ops.Label{{Name: "state", Value: "idle"}}, Value: float64(st.Idle)},
				{Labels: []ops.Label{{Name: "state", Value: "starting"}}, Value: float64(st.Starting)},
			}
		})
	m.AddGauges("edgetoken_pool_replaced_total", "counter",
		"Guest instances closed and replaced after a failed call since the host started.",
		func() []ops.Gauge { return []ops.Gauge{{Value: float64(pl.Stats().Replaced)}} })
	m.AddGauges("edgetoken_token_remaining_lifetime_seconds", "gauge",
		"Seconds until the stored token expires, by scope; 0 when none is stored or it has expired.",
		tokens.RemainingLifetimes)

	sum := sha256.Sum256(wasm)
	build := []ops.Gauge{{Labels: []ops.Label{
		{Name: "version", Value: version},
		{Name: "goversion", Value: runtime.Version()},
		{Name: "guest_sha256", Value: hex.EncodeToString(sum[:])},
	}, Value: 1}}
	m.AddGauges("edgetoken_build_info", "gauge",
		"Always 1; the labels name the host's version, its Go version and the guest module's SHA-256.",
		func() []ops.Gauge { return build })
}

// countFailures counts each refresh the host's timer requested that failed.
// A success is counted where the token is stored (ops.CountingStore),
// because the guest also fetches tokens on its own.
func countFailures(refresh func(context.Context, string) (refresher.Result, error),
	m *ops.Metrics) func(context.Context, string) (refresher.Result, error) {
	return func(ctx context.Context, name string) (refresher.Result, error) {
		res, err := refresh(ctx, name)
		if err != nil {
			m.ObserveFetch(name, ops.ResultFailure)
		}
		return res, err
	}
}
