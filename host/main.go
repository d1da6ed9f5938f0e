// Command edgetoken-host is the wazero host for the token service. It runs
// the guest module in a pool of instances, serves it over HTTP and
// implements its wasi:http, wasi:keyvalue and wasi:config imports. It
// refreshes the tokens on timers and serves /healthz, /readyz and /metrics
// itself.
//
// Every service setting comes from the environment (see internal/config);
// flags set only how the host runs, and each flag has an environment
// variable too. With -local-authority the host starts a local token
// authority on loopback whose tokens are not real. Without it, a host with
// no Azure credential variable stops at start.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgetoken/edgetoken/host/internal/ops"
	"github.com/edgetoken/edgetoken/host/internal/pool"
	"github.com/edgetoken/edgetoken/internal/access"
	"github.com/edgetoken/edgetoken/internal/config"
)

// exitUsage is the exit code for a flag or configuration error.
const exitUsage = 2

func main() {
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

// run starts the host and blocks until SIGINT or SIGTERM. It returns the
// process exit code. Help and version go to stdout, logs and errors to
// stderr.
func run(args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	f, err := parseFlags(args, env, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "edgetoken-host: %v\n", err)
		fmt.Fprintln(stderr, "Run edgetoken-host -help for the flags and variables.")
		return exitUsage
	}
	if f.version {
		fmt.Fprintln(stdout, versionText())
		return 0
	}
	log, err := ops.NewLogger(stderr, f.logFormat, f.logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "edgetoken-host: %v\n", err)
		return exitUsage
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	log.Info("starting", "version", version)
	h, err := start(ctx, f, env, log)
	if err != nil {
		var cfgErr *configError
		if errors.As(err, &cfgErr) {
			fmt.Fprintf(stderr, "edgetoken-host: invalid configuration:\n%v\n", cfgErr.err)
			return exitUsage
		}
		log.Error("start failed", "error", err)
		return 1
	}

	<-ctx.Done()
	log.Info("shutting down", "timeout", f.shutdownWait)
	if err := h.close(f.shutdownWait); err != nil {
		log.Error("shutdown failed", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// version is set at build time with -ldflags "-X main.version=<version>".
var version = "dev"

// versionText returns the version line: the host's version, the Go version
// it was built with, and the SHA-256 of the embedded guest when there is one.
func versionText() string {
	guest := "no embedded guest"
	if len(embeddedGuest) > 0 {
		guest = "guest sha256:" + hex.EncodeToString(sha256Sum(embeddedGuest))
	}
	return fmt.Sprintf("edgetoken-host %s (%s, %s)", version, runtime.Version(), guest)
}

func sha256Sum(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}

// flags are the host's command-line settings.
type flags struct {
	addr           string
	adminAddr      string
	wasmPath       string
	poolSize       int
	cacheDir       string
	localAuthority bool
	loopChecks     bool
	memoryMiB      int
	shutdownWait   time.Duration
	logLevel       slog.Level
	logFormat      string
	version        bool
}

// flagEnv names the environment variable of each flag that has one.
var flagEnv = map[string]string{
	"addr":             "EDGETOKEN_ADDR",
	"admin-addr":       "EDGETOKEN_ADMIN_ADDR",
	"wasm":             "EDGETOKEN_WASM",
	"pool":             "EDGETOKEN_POOL",
	"cache-dir":        "EDGETOKEN_CACHE_DIR",
	"local-authority":  "EDGETOKEN_LOCAL_AUTHORITY",
	"loop-checks":      "EDGETOKEN_LOOP_CHECKS",
	"memory-limit":     "EDGETOKEN_MEMORY_LIMIT_MIB",
	"shutdown-timeout": "EDGETOKEN_SHUTDOWN_TIMEOUT",
	"log-level":        "EDGETOKEN_LOG_LEVEL",
	"log-format":       "EDGETOKEN_LOG_FORMAT",
}

// flagHint returns the values a flag of fl's kind accepts, for the error
// about an invalid value taken from the environment.
func flagHint(fl *flag.Flag) string {
	if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return "; use true or false"
	}
	if _, err := strconv.Atoi(fl.DefValue); err == nil {
		return "; use a whole number"
	}
	return ""
}

// checkAddr checks a listen address before anything starts, so a typo
// stops the host at once with a message that names the flag.
func checkAddr(name, addr string, optional bool) error {
	if addr == "" && optional {
		return nil
	}
	env := flagEnv[strings.TrimPrefix(name, "-")]
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q is invalid (%s): use host:port, such as :8000 or 127.0.0.1:8000", name, addr, env)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%s %q is invalid (%s): the port must be a number from 0 to 65535", name, addr, env)
	}
	return nil
}

// logLevelFlag is a flag.Value for -log-level that accepts only the four
// level names.
type logLevelFlag struct{ level *slog.Level }

func (l logLevelFlag) String() string {
	if l.level == nil {
		return ""
	}
	return strings.ToLower(l.level.String())
}

func (l logLevelFlag) Set(s string) error {
	level, err := ops.ParseLogLevel(s)
	if err != nil {
		return err
	}
	*l.level = level
	return nil
}

// newFlagSet defines every flag on a new set, with its default, into f.
func newFlagSet(f *flags) *flag.FlagSet {
	fs := flag.NewFlagSet("edgetoken-host", flag.ContinueOnError)
	fs.StringVar(&f.addr, "addr", ":8000",
		"listen `address` (host:port) of the service; the PORT variable replaces the port")
	fs.StringVar(&f.adminAddr, "admin-addr", "",
		"listen `address` (host:port) of /healthz, /readyz and /metrics; empty serves them on -addr")
	fs.StringVar(&f.wasmPath, "wasm", "",
		"`path` of the guest module; empty uses the guest built into the binary")
	fs.IntVar(&f.poolSize, "pool", 0,
		"`number` of guest instances; 0 means twice GOMAXPROCS, at least 4")
	fs.StringVar(&f.cacheDir, "cache-dir", pool.DefaultCacheDir(),
		"`directory` of the compiled-code cache; empty disables it")
	fs.BoolVar(&f.localAuthority, "local-authority", false,
		"use a local token authority whose tokens are NOT real, even when Azure credentials are set")
	fs.BoolVar(&f.loopChecks, "loop-checks", true,
		"stop a guest call at its time limit even while it computes; false about halves the CPU per request, "+
			"but then only calls waiting on the network or a timer are stopped")
	fs.IntVar(&f.memoryMiB, "memory-limit", 64,
		"linear memory limit of each guest instance, in `MiB` (8 to 4096)")
	fs.DurationVar(&f.shutdownWait, "shutdown-timeout", 30*time.Second,
		"how long shutdown waits for requests in progress, as a Go `duration`")
	f.logLevel = slog.LevelInfo
	fs.Var(logLevelFlag{&f.logLevel}, "log-level", "log `level`: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", ops.LogFormatText, "log `format`: text or json")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	return fs
}

// parseFlags sets each flag from its environment variable, then from args,
// so a flag given on the command line wins. Help goes to out.
func parseFlags(args []string, env func(string) (string, bool), out io.Writer) (*flags, error) {
	f := &flags{}
	fs := newFlagSet(f)
	// The flag package would print the usage on any error; run prints the
	// error alone to stderr, and the usage only when asked for.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}

	var envErrs []error
	fs.VisitAll(func(fl *flag.Flag) {
		name, ok := flagEnv[fl.Name]
		if !ok {
			return
		}
		if v, ok := env(name); ok && v != "" {
			if err := fs.Set(fl.Name, v); err != nil {
				envErrs = append(envErrs, fmt.Errorf("%s %q is invalid: %w%s", name, v, err, flagHint(fl)))
			}
		}
	})
	if err := errors.Join(envErrs...); err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeUsage(out, fs)
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := checkAddr("-addr", f.addr, false); err != nil {
		return nil, err
	}
	if err := checkAddr("-admin-addr", f.adminAddr, true); err != nil {
		return nil, err
	}
	if f.adminAddr != "" && f.adminAddr == f.addr {
		return nil, fmt.Errorf("-admin-addr %q is the same as -addr: give it another port, or leave it empty", f.adminAddr)
	}
	if f.memoryMiB < 8 || f.memoryMiB > 4096 {
		return nil, fmt.Errorf("-memory-limit %d is invalid: want 8 to 4096 MiB", f.memoryMiB)
	}
	if f.poolSize < 0 {
		return nil, fmt.Errorf("-pool %d is invalid: want 0 or more", f.poolSize)
	}
	if f.shutdownWait <= 0 {
		return nil, fmt.Errorf("-shutdown-timeout %s is invalid: want more than 0", f.shutdownWait)
	}
	switch strings.ToLower(f.logFormat) {
	case ops.LogFormatText, ops.LogFormatJSON:
	default:
		return nil, fmt.Errorf("-log-format %q is invalid: want text or json", f.logFormat)
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

// writeUsage writes the help: every flag with its environment variable and
// default, then every service variable with its default.
func writeUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `Usage: edgetoken-host [flags]

Serves Microsoft Entra ID tokens at /speech and /api by running the token
service's WebAssembly guest. The service is configured with the environment
variables listed below; the flags set how the host runs. Each flag can also
be set with the environment variable shown, and a flag given on the command
line wins over its variable.

Flags:
`)
	fs.VisitAll(func(fl *flag.Flag) {
		kind, usage := flag.UnquoteUsage(fl)
		fmt.Fprintf(w, "  -%s", fl.Name)
		if kind != "" {
			fmt.Fprintf(w, " %s", kind)
		}
		fmt.Fprintln(w)
		writeIndented(w, usage)
		if env, ok := flagEnv[fl.Name]; ok {
			fmt.Fprintf(w, "      (env %s, default %q)\n", env, fl.DefValue)
		} else {
			fmt.Fprintf(w, "      (default %q)\n", fl.DefValue)
		}
	})

	writeVariables := func(title string, vars []config.Variable) {
		fmt.Fprintf(w, "\n%s:\n", title)
		for _, v := range vars {
			fmt.Fprintf(w, "  %s\n", v.Name)
			writeIndented(w, v.Description)
			if v.Default != "" {
				fmt.Fprintf(w, "      (default %q)\n", v.Default)
			}
		}
	}
	writeVariables("Service variables (read from the environment at start)", config.Variables())
	writeVariables("Access control variables (all off by default)", access.Variables())
	fmt.Fprint(w, `
Without any Azure credential variable the host does not start, unless
-local-authority is given: then it serves tokens from a local authority on
loopback. Those tokens are NOT real.
`)
}

// writeIndented writes text indented by six spaces, wrapped at about 80
// columns between words.
func writeIndented(w io.Writer, text string) {
	const indent, width = "      ", 80
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			fmt.Fprintln(w, line)
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	fmt.Fprintln(w, line)
}
