package testenv

import (
	"bytes"
	"errors"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// startGroup starts cmd as the leader of a new process group, so stop can
// end it together with anything it started.
func startGroup(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd.Start()
}

// stopGroup sends SIGTERM to the process group led by cmd, then SIGKILL if
// the leader has not exited within grace. done is closed when cmd.Wait
// returns.
func stopGroup(cmd *exec.Cmd, done <-chan struct{}, grace time.Duration) {
	pgid := cmd.Process.Pid
	select {
	case <-done:
		// The leader is gone; a child it left behind would still be in the group.
		syscall.Kill(-pgid, syscall.SIGKILL)
		return
	default:
	}

	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// exitCode returns the exit status in err from cmd.Wait, or -1 when the
// process did not exit normally.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode()
	}
	return -1
}

// syncBuffer collects a subprocess's output while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
