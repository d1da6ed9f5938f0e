// Package testenv starts the real parts that end-to-end tests run against:
// the oidc-provider authority (Node.js), the guest and host binaries built
// from this module, and the host as a subprocess.
//
// Everything listens on 127.0.0.1 only, and every process a helper starts is
// stopped at the test's cleanup.
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Environment variables that point the tests at binaries built beforehand
// (make guest host), so a full run does not build them twice.
const (
	GuestEnv = "EDGETOKEN_TEST_GUEST"
	HostEnv  = "EDGETOKEN_TEST_HOST"
)

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error

	buildDirOnce sync.Once
	buildDir     string
	buildDirErr  error

	guest = artifact{name: "guest.wasm"}
	host  = artifact{name: "edgetoken-host"}
)

// artifact is one binary built at most once per test binary.
type artifact struct {
	name string
	once sync.Once
	path string
	err  error
}

// RepoRoot returns the directory holding this module's go.mod, found by
// walking up from the working directory (go test runs each package in its
// own directory).
func RepoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = fmt.Errorf("get working directory: %w", err)
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = fmt.Errorf("no go.mod above the working directory")
				return
			}
			dir = parent
		}
	})
	if rootErr != nil {
		t.Fatalf("find repository root: %v", rootErr)
	}
	return rootDir
}

// BuildGuest returns the path of the guest core module
// (GOOS=wasip1 GOARCH=wasm, c-shared reactor), built once per test binary
// unless EDGETOKEN_TEST_GUEST names a built one.
func BuildGuest(t testing.TB) string {
	t.Helper()
	return guest.build(t, GuestEnv, func(root, out string) *exec.Cmd {
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s",
			"-o", out, "./component")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		return cmd
	})
}

// BuildHost returns the path of the wazero host binary, built once per test
// binary unless EDGETOKEN_TEST_HOST names a built one.
func BuildHost(t testing.TB) string {
	t.Helper()
	return host.build(t, HostEnv, func(root, out string) *exec.Cmd {
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./host")
		// The host runs on this machine, so an outer GOOS=wasip1 must not leak in.
		cmd.Env = append(os.Environ(), "GOOS=", "GOARCH=")
		return cmd
	})
}

func (a *artifact) build(t testing.TB, override string, command func(root, out string) *exec.Cmd) string {
	t.Helper()
	if path := os.Getenv(override); path != "" {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s names a missing file: %v", override, err)
		}
		return path
	}

	root := RepoRoot(t)
	a.once.Do(func() {
		dir, err := sharedBuildDir()
		if err != nil {
			a.err = err
			return
		}

		out := filepath.Join(dir, a.name)
		cmd := command(root, out)
		cmd.Dir = root
		var output bytes.Buffer
		cmd.Stdout = &output
		cmd.Stderr = &output
		if err := cmd.Run(); err != nil {
			a.err = fmt.Errorf("build %s: %v\n%s", a.name, err, output.Bytes())
			return
		}
		a.path = out
	})
	if a.err != nil {
		t.Fatal(a.err)
	}
	return a.path
}

func sharedBuildDir() (string, error) {
	buildDirOnce.Do(func() {
		buildDir, buildDirErr = os.MkdirTemp("", "edgetoken-testenv-")
	})
	return buildDir, buildDirErr
}

// Cleanup removes the binaries built by BuildGuest and BuildHost. Call it
// from TestMain after m.Run; the builds outlive single tests on purpose.
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}
