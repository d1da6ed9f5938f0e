package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/edgetoken/edgetoken/host/internal/egress"
	"github.com/edgetoken/edgetoken/host/internal/pool"
	"github.com/edgetoken/edgetoken/host/internal/refresher"
	"github.com/edgetoken/edgetoken/host/internal/server"
	"github.com/edgetoken/edgetoken/host/internal/wasihost"
	"github.com/edgetoken/edgetoken/internal/authority"
	"github.com/edgetoken/edgetoken/internal/config"
	"github.com/edgetoken/edgetoken/internal/entra"
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
	served    chan error // receives Serve's result
	refresher *refresher.Refresher
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

	lookup := env
	if f.localAuthority || !hasCredentials(env) {
		p.authority, lookup, err = startLocalAuthority(env, log, f.localAuthority)
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

	client, err := egress.NewClient(egress.Config{
		Allowed: allowedOrigins(settings),
		Denied:  wasihost.ErrRequestDenied,
	})
	if err != nil {
		return nil, &configError{err}
	}
	tokens := token.NewMemoryStore()
	p.pool, err = pool.New(ctx, pool.Config{
		Wasm:             wasm,
		Size:             f.poolSize,
		CacheDir:         f.cacheDir,
		MemoryLimitPages: uint32(f.memoryMiB) * 16, // 16 pages of 64 KiB per MiB
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

	p.server = server.New(server.Config{Handler: p.pool.Do, Logger: log})
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", f.addr, err)
	}
	p.served = make(chan error, 1)
	go func() { p.served <- p.server.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "pool", p.pool.Stats().Size,
		"api", settings.APIConfigured())

	targets := []refresher.Target{{Name: "speech", Interval: settings.SpeechRefreshInterval}}
	if settings.APIConfigured() {
		targets = append(targets, refresher.Target{Name: "api"})
	}
	p.refresher = refresher.New(refresher.Config{
		Targets: targets,
		Refresh: guestRefresh(p.pool.Do, refreshKey),
		Logger:  log,
	})
	go func() {
		// The server already answers while the tokens warm: a request that
		// arrives first makes the guest fetch on its own.
		if err := p.refresher.Warm(ctx); err != nil {
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

// allowedOrigins lists where the guest may send requests: the authority,
// the App Service identity endpoint when set, and IMDS only when managed
// identity is chosen explicitly without one, which is the only case the
// guest's credential chain uses IMDS.
func allowedOrigins(s *config.Settings) []string {
	allowed := []string{s.AuthorityHost}
	if s.IdentityEndpoint != "" {
		allowed = append(allowed, s.IdentityEndpoint)
	} else if s.Credential == config.CredentialManagedIdentity {
		allowed = append(allowed, entra.DefaultIMDSEndpoint)
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
