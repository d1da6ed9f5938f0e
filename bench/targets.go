package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edgetoken/edgetoken/internal/authority"
	"github.com/edgetoken/edgetoken/internal/config"
	"github.com/edgetoken/edgetoken/internal/entra"
	"github.com/edgetoken/edgetoken/internal/service"
	"github.com/edgetoken/edgetoken/internal/token"
)

// Settings every target gets. The IDs are GUIDs because the settings
// require them. The local authority accepts this client and secret only.
const (
	tenantID      = "00000000-0000-4000-8000-00000000be01"
	clientID      = "00000000-0000-4000-8000-00000000be02"
	speechID      = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/bench/providers/Microsoft.CognitiveServices/accounts/bench-speech"
	apiAppID      = "00000000-0000-4000-8000-00000000be03"
	clientSecret  = "bench-secret-not-real"
	startTimeout  = 60 * time.Second
	stopTimeout   = 5 * time.Second
	readyInterval = 2 * time.Millisecond
)

// upstream is a local authority that targets fetch their tokens from.
type upstream struct {
	authority *authority.Authority
	server    *authority.Server
	settings  *config.Settings
}

func startUpstream() (*upstream, error) {
	a, err := authority.New(authority.Options{ClientID: clientID, ClientSecret: clientSecret})
	if err != nil {
		return nil, err
	}
	srv, err := authority.Serve(a, authority.ServeOptions{Logger: quiet()})
	if err != nil {
		return nil, err
	}
	u := &upstream{authority: a, server: srv}
	u.settings, err = config.Load(u.lookup)
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("load the targets' settings: %w", err)
	}
	return u, nil
}

// env is the service's environment, the same for every target.
func (u *upstream) env() map[string]string {
	return map[string]string{
		config.EnvSpeechResourceID: speechID,
		config.EnvAPIAppID:         apiAppID,
		config.EnvTenantID:         tenantID,
		config.EnvClientID:         clientID,
		config.EnvClientSecret:     clientSecret,
		config.EnvAuthorityHost:    u.server.URL,
	}
}

func (u *upstream) lookup(name string) (string, bool) {
	v, ok := u.env()[name]
	return v, ok
}

// requests returns the token requests so far for /speech's and /api's scopes.
func (u *upstream) requests() [2]int {
	return [2]int{
		u.authority.Requests(u.settings.SpeechScope),
		u.authority.Requests(u.settings.APIScope),
	}
}

func (u *upstream) close() { u.server.Close() }

// quiet returns a logger that discards everything, for the authorities'
// start warnings.
func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type targetKind int

const (
	kindNative targetKind = iota // in this process, for the harness's test
	kindNativeProcess
	kindHost
	kindJco
)

type targetSpec struct {
	name string
	kind targetKind
	pool int    // host only
	bin  string // host only: a binary other than -host
	// flags are more host flags (host only).
	flags []string
}

// target is a running target.
type target struct {
	spec     targetSpec
	url      string
	upstream *upstream // the target's own authority
	cmd      *exec.Cmd
	done     chan struct{}
	output   *lockedBuffer
	server   *http.Server
	firstOK  time.Duration // process start to the first 200, subprocesses only
	stopOnce sync.Once
}

func startTarget(ctx context.Context, s targetSpec, o *options, up *upstream, cache, work string) (*target, error) {
	t := &target{spec: s, upstream: up}
	var err error
	switch s.kind {
	case kindNative:
		err = t.startNative(up)
	case kindNativeProcess:
		err = t.startNativeProcess(ctx, up)
	case kindHost:
		bin := o.host
		if s.bin != "" {
			bin = s.bin
		}
		err = t.startHost(ctx, bin, up, s.pool, cache, s.flags...)
	case kindJco:
		err = t.startJco(ctx, o.component, up, work)
	}
	if err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// nativeHandler is the baseline: the shared handler behind
// service.NetHTTP with the same settings, a token.Cache over a
// MemoryStore and the client secret credential.
func nativeHandler(s *config.Settings) (http.Handler, error) {
	credential, err := entra.New(entra.Options{
		Selection:     string(s.Credential),
		TenantID:      s.TenantID,
		ClientID:      s.ClientID,
		ClientSecret:  s.ClientSecret,
		AuthorityHost: s.AuthorityHost,
	}, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	cache := token.NewCache(token.NewMemoryStore(), credential, token.CacheOptions{MinLifetime: s.MinLifetime})
	return service.NetHTTP(service.New(s, cache, service.Options{})), nil
}

// startNative serves the baseline in this process. The benchmark runs it
// in a process of its own instead (startNativeProcess), like the host.
func (t *target) startNative(up *upstream) error {
	handler, err := nativeHandler(up.settings)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	t.server = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go t.server.Serve(ln)
	t.url = "http://" + ln.Addr().String()
	_, err = waitReady(context.Background(), t.url+"/speech", nil, startTimeout)
	return err
}

// startNativeProcess runs this program again as the baseline's server
// (serveNative), so that the baseline, like the host and jco, has a
// process of its own and does not share a Go runtime with the load.
func (t *target) startNativeProcess(ctx context.Context, up *upstream) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	t.url = "http://" + addr
	env := up.env()
	env["HOME"] = os.Getenv("HOME")
	return t.startProcess(ctx, exec.Command(self, serveNativeFlag, addr), env, nil)
}

// serveNativeFlag makes the program serve the baseline on the address
// that follows, with settings from the environment, until SIGTERM.
const serveNativeFlag = "-serve-native"

func serveNative(addr string) error {
	settings, err := config.Load(os.LookupEnv)
	if err != nil {
		return err
	}
	handler, err := nativeHandler(settings)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startHost runs the host binary with pool instances and the compilation
// cache in cacheDir.
func (t *target) startHost(ctx context.Context, bin string, up *upstream, pool int, cacheDir string,
	flags ...string) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	env := up.env()
	env["HOME"] = os.Getenv("HOME")
	env["PATH"] = os.Getenv("PATH")
	args := []string{"-addr", addr, "-pool", strconv.Itoa(pool), "-cache-dir", cacheDir, "-log-level", "warn"}
	args = append(args, flags...)
	t.url = "http://" + addr
	return t.startProcess(ctx, exec.Command(bin, args...), env, nil)
}

// startJco serves the component on jco with the same settings in its
// config store, under the lower-case names the guest reads.
func (t *target) startJco(ctx context.Context, component string, up *upstream, work string) error {
	values := map[string]string{}
	for name, value := range up.env() {
		values[strings.ToLower(name)] = value
	}
	data, err := json.Marshal(values)
	if err != nil {
		return err
	}
	configPath := filepath.Join(work, "jco-config.json")
	if err := os.WriteFile(configPath, data, 0o600); err != nil {
		return err
	}
	script := filepath.Join("test", "jco", "serve.mjs")
	cmd := exec.Command("node", script, "--component", component, "--config", configPath, "--port", "0")
	env := map[string]string{"HOME": os.Getenv("HOME"), "PATH": os.Getenv("PATH")}
	listening := make(chan string, 1)
	return t.startProcess(ctx, cmd, env, listening)
}

// startProcess starts cmd in its own process group and waits for the
// first 200 from /speech. When listening is not nil, the address comes
// from the process's "listening ADDR" line on stdout.
func (t *target) startProcess(ctx context.Context, cmd *exec.Cmd, env map[string]string, listening chan string) error {
	cmd.Env = nil
	for name, value := range env {
		cmd.Env = append(cmd.Env, name+"="+value)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t.output = &lockedBuffer{}
	cmd.Stderr = t.output
	var stdout io.ReadCloser
	if listening != nil {
		var err error
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return err
		}
	} else {
		cmd.Stdout = t.output
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	t.cmd = cmd
	t.done = make(chan struct{})
	if stdout != nil {
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				line := sc.Text()
				if addr, ok := strings.CutPrefix(line, "listening "); ok {
					listening <- addr
				}
				t.output.Write([]byte(line + "\n"))
			}
		}()
	}
	go func() {
		_ = cmd.Wait()
		close(t.done)
	}()
	if listening != nil {
		select {
		case addr := <-listening:
			t.url = "http://" + addr
		case <-t.done:
			return fmt.Errorf("exited before listening:\n%s", t.output)
		case <-time.After(startTimeout):
			return fmt.Errorf("not listening after %s:\n%s", startTimeout, t.output)
		}
	}
	if _, err := waitReady(ctx, t.url+"/speech", t.done, startTimeout); err != nil {
		return fmt.Errorf("%w\n%s", err, t.output)
	}
	t.firstOK = time.Since(start)
	return nil
}

// waitReady polls url until it returns 200, and returns how long that took.
func waitReady(ctx context.Context, url string, exited <-chan struct{}, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		if time.Since(start) > timeout {
			return 0, fmt.Errorf("no 200 from %s within %s (last error %v)", url, timeout, err)
		}
		select {
		case <-exited:
			return 0, errors.New("the process exited before it returned 200")
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(readyInterval):
		}
	}
}

// rssKiB reads the process's resident set size from /proc, or returns 0.
func (t *target) rssKiB() int {
	if t.cmd == nil || t.cmd.Process == nil {
		return 0
	}
	return readRSS(t.cmd.Process.Pid)
}

// cpuTime returns a function that reads the process's CPU time (user and
// system) from /proc, or nil for a target in this process.
func (t *target) cpuTime() func() time.Duration {
	if t.cmd == nil || t.cmd.Process == nil {
		return nil
	}
	pid := t.cmd.Process.Pid
	return func() time.Duration { return readCPU(pid) }
}

// readCPU returns utime + stime of /proc/PID/stat. The kernel counts them
// in clock ticks, 100 per second on Linux.
func readCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name in field 2 may contain spaces, so count the fields
	// from its closing parenthesis: utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func readRSS(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kib
		}
	}
	return 0
}

// stop ends the target: SIGTERM to the process group it made, then
// SIGKILL if it has not exited in time.
func (t *target) stop() {
	t.stopOnce.Do(func() {
		if t.server != nil {
			t.server.Close()
		}
		if t.cmd == nil || t.cmd.Process == nil {
			return
		}
		pgid := t.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-t.done:
		case <-time.After(stopTimeout):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-t.done
		}
	})
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// lockedBuffer collects a process's output from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
