package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/internal/testenv"
	"github.com/edgetoken/edgetoken/internal/testenv/conformance"
)

// TestPythonExampleClient runs the original service's example client,
// examples/python/client.py, against the host and checks the Speech token
// it prints.
func TestPythonExampleClient(t *testing.T) {
	skipShort(t)
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 not found on PATH (install Python 3 and `pip install requests`): %v", err)
	}
	if out, err := exec.Command(python, "-c", "import requests").CombinedOutput(); err != nil {
		t.Fatalf("python3 cannot import requests (run `pip install requests`): %v\n%s", err, out)
	}

	o := conformance.StartOIDC(t)
	h := testenv.StartHost(t, conformance.Env(o))

	cmd := exec.Command(python, filepath.Join(testenv.RepoRoot(t), "examples", "python", "client.py"))
	cmd.Env = append(os.Environ(), "TOKEN_SERVICE_URL="+h.URL+"/speech")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("run client.py: %v", err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("client.py: %v\nstderr:\n%s", err, stderr.Bytes())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("client.py did not finish in 30s\nstderr:\n%s", stderr.Bytes())
	}

	printed := strings.TrimSuffix(stdout.String(), "\n")
	parts := strings.Split(printed, "#")
	if len(parts) != 3 || parts[0] != "aad" || parts[1] != conformance.SpeechResourceID {
		t.Fatalf("printed token: got %q, want aad#%s#<jwt>", printed, conformance.SpeechResourceID)
	}
	claims := o.VerifyJWT(t, parts[2])
	if aud, _ := claims.GetAudience(); len(aud) != 1 || aud[0] != conformance.SpeechResource {
		t.Errorf("token aud: got %q, want %q", aud, conformance.SpeechResource)
	}
	if got := o.TokenRequests(t, conformance.SpeechScope); got != 1 {
		t.Errorf("speech token requests: got %d, want 1", got)
	}
}
