package e2e

import (
	"flag"
	"os"
	"testing"

	"github.com/edgetoken/edgetoken/internal/testenv"
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

// skipShort keeps `go test -short ./...` fast: these tests start node,
// build the guest and the host, and wait for timers.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: runs node and subprocesses; skipped with -short")
	}
}
