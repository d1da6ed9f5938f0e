package testenv

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hostStartTimeout bounds how long the host may take to listen. Compiling
// the guest with wazero's compiler takes a few seconds on a slow machine.
const hostStartTimeout = 30 * time.Second

// Host is a running host binary serving the guest.
type Host struct {
	URL  string // http://127.0.0.1:PORT, no trailing slash
	Addr string // 127.0.0.1:PORT

	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
	err  error // from cmd.Wait, valid once done is closed
}

// StartError reports a host that exited before it listened.
type StartError struct {
	ExitCode int
	Output   string // everything the host wrote to stdout and stderr
}

func (e *StartError) Error() string {
	return fmt.Sprintf("host exited with status %d before listening:\n%s", e.ExitCode, e.Output)
}

// StartHost starts the host built by BuildHost with the guest from
// BuildGuest on a free loopback port, waits until it accepts connections,
// and stops it at t's cleanup. The host gets exactly env as its
// environment, so no AZURE_* variable of the machine running the tests
// reaches it. args are added after -wasm, -addr and -cache-dir.
func StartHost(t testing.TB, env map[string]string, args ...string) *Host {
	t.Helper()
	h, err := TryStartHost(t, env, args...)
	if err != nil {
		t.Fatalf("start host: %v", err)
	}
	return h
}

// TryStartHost is StartHost for tests that expect the start to fail. It
// returns a *StartError when the host exited before listening.
func TryStartHost(t testing.TB, env map[string]string, args ...string) (*Host, error) {
	t.Helper()
	hostBin := BuildHost(t)
	guestWasm := BuildGuest(t)
	addr := freeLoopbackAddr(t)

	h := &Host{
		URL:  "http://" + addr,
		Addr: addr,
		log:  &syncBuffer{},
		done: make(chan struct{}),
	}
	cacheDir, err := sharedBuildDir()
	if err != nil {
		return nil, fmt.Errorf("make the build directory: %w", err)
	}
	// One compiled-code cache for every host a test binary starts, so only
	// the first start pays for compiling the guest.
	hostArgs := []string{"-wasm", guestWasm, "-addr", addr, "-cache-dir", filepath.Join(cacheDir, "wazero-cache")}
	h.cmd = exec.Command(hostBin, append(hostArgs, args...)...)
	h.cmd.Env = envList(env)
	h.cmd.Stdout = h.log
	h.cmd.Stderr = h.log
	if err := startGroup(h.cmd); err != nil {
		return nil, fmt.Errorf("run %s: %w", hostBin, err)
	}
	go func() {
		h.err = h.cmd.Wait()
		close(h.done)
	}()
	t.Cleanup(func() {
		stopGroup(h.cmd, h.done, 5*time.Second)
		if t.Failed() {
			t.Logf("host output:\n%s", h.log)
		}
	})

	deadline := time.Now().Add(hostStartTimeout)
	for {
		select {
		case <-h.done:
			return nil, &StartError{ExitCode: exitCode(h.err), Output: h.log.String()}
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return h, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("host not listening on %s after %v; output:\n%s",
				addr, hostStartTimeout, h.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Log returns what the host wrote to stdout and stderr so far.
func (h *Host) Log() string { return h.log.String() }

// WaitLog waits until the host's output contains substr.
func (h *Host) WaitLog(t testing.TB, substr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(h.log.String(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("host output has no %q after %v:\n%s", substr, timeout, h.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop sends SIGTERM, waits for the exit, and returns the exit status.
func (h *Host) Stop() int {
	stopGroup(h.cmd, h.done, 5*time.Second)
	return exitCode(h.err)
}

func envList(env map[string]string) []string {
	list := make([]string, 0, len(env))
	for name, value := range env {
		list = append(list, name+"="+value)
	}
	return list
}

// freeLoopbackAddr returns a loopback address whose port was free a moment
// ago. Another process may take it before the host binds it; the host then
// fails to start and the test reports it.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
