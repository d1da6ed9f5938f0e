// Command edgetoken is the wazero host for the token service: it runs the
// guest module in a pool of instances, serves it over HTTP, implements its
// wasi:http, wasi:keyvalue and wasi:config imports, and refreshes the
// tokens on timers.
//
// Every setting comes from the environment (see internal/config); flags set
// only how the host runs. Without Azure credential variables, or with
// -local-authority, the host starts a local token authority on loopback
// whose tokens are not real.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/edgetoken/edgetoken/host/internal/pool"
)

// exitUsage is the exit code for a flag or configuration error.
const exitUsage = 2

func main() {
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stderr))
}

// flags are the host's command-line settings, each with an environment
// fallback.
type flags struct {
	addr           string
	wasmPath       string
	poolSize       int
	cacheDir       string
	localAuthority bool
	memoryMiB      int
	shutdownWait   time.Duration
	logLevel       slog.Level
}

func parseFlags(args []string, env func(string) (string, bool), stderr io.Writer) (*flags, error) {
	getenv := func(name, def string) string {
		if v, ok := env(name); ok && v != "" {
			return v
		}
		return def
	}
	f := &flags{}
	fs := flag.NewFlagSet("edgetoken", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.addr, "addr", getenv("EDGETOKEN_ADDR", ":8000"),
		"listen address, host:port; the PORT environment variable replaces the port (env EDGETOKEN_ADDR)")
	fs.StringVar(&f.wasmPath, "wasm", getenv("EDGETOKEN_WASM", ""),
		"path of the guest module; empty uses the guest built into the binary (env EDGETOKEN_WASM)")
	fs.IntVar(&f.poolSize, "pool", envInt(env, "EDGETOKEN_POOL", 0),
		"number of guest instances; 0 means twice GOMAXPROCS, at least 4 (env EDGETOKEN_POOL)")
	fs.StringVar(&f.cacheDir, "cache-dir", getenv("EDGETOKEN_CACHE_DIR", pool.DefaultCacheDir()),
		"directory of the compiled-code cache; empty disables it (env EDGETOKEN_CACHE_DIR)")
	fs.BoolVar(&f.localAuthority, "local-authority", getenv("EDGETOKEN_LOCAL_AUTHORITY", "") == "true",
		"use a local token authority whose tokens are NOT real, even when Azure credentials are set "+
			"(env EDGETOKEN_LOCAL_AUTHORITY=true)")
	fs.IntVar(&f.memoryMiB, "memory-limit", envInt(env, "EDGETOKEN_MEMORY_LIMIT_MIB", 64),
		"linear memory limit of each guest instance, in MiB (env EDGETOKEN_MEMORY_LIMIT_MIB)")
	fs.DurationVar(&f.shutdownWait, "shutdown-timeout", 30*time.Second,
		"how long shutdown waits for requests in progress")
	fs.TextVar(&f.logLevel, "log-level", slog.LevelInfo, "log level: DEBUG, INFO, WARN or ERROR")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.memoryMiB < 8 || f.memoryMiB > 4096 {
		return nil, fmt.Errorf("-memory-limit %d is invalid: want 8 to 4096 MiB", f.memoryMiB)
	}
	if f.poolSize < 0 {
		return nil, fmt.Errorf("-pool %d is invalid: want 0 or more", f.poolSize)
	}

	// PORT replaces the port, as it did for the original service, because
	// App Service and container platforms announce the port that way.
	if port, ok := env("PORT"); ok && port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 {
			return nil, fmt.Errorf("PORT %q is invalid: want a port number", port)
		}
		host, _, err := net.SplitHostPort(f.addr)
		if err != nil {
			return nil, fmt.Errorf("-addr %q is invalid: %w", f.addr, err)
		}
		f.addr = net.JoinHostPort(host, port)
	}
	return f, nil
}

// envInt returns the integer in the named variable, or def when it is unset
// or not an integer; the flag's own parsing reports a bad -flag value.
func envInt(env func(string) (string, bool), name string, def int) int {
	if v, ok := env(name); ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

// run starts the host and blocks until SIGINT or SIGTERM. It returns the
// process exit code.
func run(args []string, env func(string) (string, bool), stderr io.Writer) int {
	f, err := parseFlags(args, env, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "edgetoken: %v\n", err)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: f.logLevel}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	h, err := start(ctx, f, env, log)
	if err != nil {
		var cfgErr *configError
		if errors.As(err, &cfgErr) {
			fmt.Fprintf(stderr, "edgetoken: invalid configuration:\n%v\n", cfgErr.err)
			return exitUsage
		}
		log.Error("start failed", "error", err)
		return 1
	}

	<-ctx.Done()
	log.Info("shutting down", "timeout", f.shutdownWait)
	if err := h.close(f.shutdownWait); err != nil {
		log.Error("shutdown", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
