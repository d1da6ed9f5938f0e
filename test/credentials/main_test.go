// Package credentials tests every way the service gets a token, each one
// twice against the same loopback fake: through the guest on the wazero
// host (the host binary as a subprocess), and in plain Go with entra.New.
// Nothing here contacts a real Entra ID, IMDS or App Service address.
package credentials

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgetoken/edgetoken/internal/authority"
	"github.com/edgetoken/edgetoken/internal/entra"
	"github.com/edgetoken/edgetoken/internal/testenv"
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

// skipShort keeps `go test -short ./...` fast: these tests build and run
// the host and the guest as subprocesses.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: runs the host as a subprocess; skipped with -short")
	}
}

// Values shared by the tests. None of them is a real identifier.
const (
	speechResourceID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/creds/" +
		"providers/Microsoft.CognitiveServices/accounts/creds-speech"
	speechScope    = "https://cognitiveservices.azure.com/.default"
	speechResource = "https://cognitiveservices.azure.com"
	tenantID       = "72f988bf-0000-4000-8000-0000000c4ed5"
	clientID       = "0000c4ed-c11e-4000-8000-000000000001"
	userAssignedID = "0000c4ed-0a1d-4000-8000-000000000002"
	clientSecret   = "creds-secret-Vb3~never-logged"
	identityHeader = "creds-identity-header-Ht5~never-logged"
	p12Password    = "p12-test-password"
)

// baseEnv is the environment every host in this package starts with:
// only /speech is served (LOCAL_MODE makes API_APP_ID optional).
func baseEnv() map[string]string {
	return map[string]string{
		"SPEECH_RESOURCE_ID": speechResourceID,
		"LOCAL_MODE":         "True",
	}
}

// with returns a copy of env with the pairs added; a pair with an empty
// value removes that variable.
func with(env map[string]string, pairs ...string) map[string]string {
	out := make(map[string]string, len(env)+len(pairs)/2)
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			delete(out, pairs[i])
			continue
		}
		out[pairs[i]] = pairs[i+1]
	}
	return out
}

// fixture returns the absolute path of a file in testdata, since the host
// runs in another working directory.
func fixture(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fake is an internal/authority serving plain http on a loopback address.
type fake struct {
	*authority.Authority
	srv *authority.Server
}

func startFake(t *testing.T, addr string, opts authority.Options) *fake {
	t.Helper()
	a, err := authority.New(opts)
	if err != nil {
		t.Fatalf("authority.New: %v", err)
	}
	srv, err := authority.Serve(a, authority.ServeOptions{
		Addr:   addr,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("authority.Serve: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return &fake{Authority: a, srv: srv}
}

// tokenRequests returns the token requests the fake received: client
// credentials posts and managed identity gets.
func (f *fake) tokenRequests() []authority.Request {
	var out []authority.Request
	for _, r := range f.Received() {
		if strings.HasSuffix(r.Path, "/oauth2/v2.0/token") || r.Path == "/msi/token" ||
			r.Path == "/metadata/identity/oauth2/token" {
			out = append(out, r)
		}
	}
	return out
}

// waitRequests waits until the fake has received at least n token
// requests and returns them.
func (f *fake) waitRequests(t *testing.T, n int, timeout time.Duration) []authority.Request {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := f.tokenRequests()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("fake received %d token requests after %v, want at least %d", len(got), timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// credentialOf names the credential that sent r, in entra's Credential.Name
// terms. A client assertion issued by the client itself comes from a
// certificate; one from another issuer is a federated token.
func credentialOf(r authority.Request) string {
	switch {
	case r.Path == "/msi/token":
		return "managed identity"
	case r.Path == "/metadata/identity/oauth2/token":
		return "managed identity (IMDS)"
	case r.Form.Get("client_secret") != "":
		return "client secret"
	case r.Form.Get("client_assertion") != "":
		claims := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(r.Form.Get("client_assertion"), claims); err != nil {
			return "malformed assertion"
		}
		if iss, _ := claims.GetIssuer(); iss == r.Form.Get("client_id") {
			return "client certificate"
		}
		return "workload identity"
	}
	return "unknown"
}

// getSpeechToken gets /speech from the host and returns the access token
// inside speech_token ("aad#<resource ID>#<token>").
func getSpeechToken(t *testing.T, h *testenv.Host) string {
	t.Helper()
	resp, err := http.Get(h.URL + "/speech")
	if err != nil {
		t.Fatalf("GET /speech: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /speech: status %d, body %s", resp.StatusCode, body)
	}
	var out struct {
		SpeechToken string `json:"speech_token"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("decode /speech body %s: %v", body, err)
	}
	prefix := "aad#" + speechResourceID + "#"
	tok, ok := strings.CutPrefix(out.SpeechToken, prefix)
	if !ok || tok == "" {
		t.Fatalf("speech_token %q does not start with %q", out.SpeechToken, prefix)
	}
	return tok
}

// fetchInGo gets a token with entra.New on opts, the plain Go path.
func fetchInGo(t *testing.T, opts entra.Options, client *http.Client) (entra.Credential, string) {
	t.Helper()
	cred, err := entra.New(opts, client)
	if err != nil {
		t.Fatalf("entra.New: %v", err)
	}
	tok, err := cred.FetchToken(context.Background(), speechScope)
	if err != nil {
		t.Fatalf("FetchToken: %v", err)
	}
	if tok.Value == "" {
		t.Fatal("FetchToken returned an empty token")
	}
	return cred, tok.Value
}

// checkLog checks that the host's start log names the credential and the
// client ID, and that no secret value appears anywhere in the log.
func checkLog(t *testing.T, log, credential, clientID string, secrets ...string) {
	t.Helper()
	if want := `msg="token credential" credential="` + credential + `"`; !strings.Contains(log, want) {
		t.Errorf("host log has no %s:\n%s", want, log)
	}
	if want := "client_id=" + clientID; !strings.Contains(log, want) {
		t.Errorf("host log has no %s:\n%s", want, log)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(log, s) {
			t.Errorf("host log contains a secret value (%d characters starting %.4q)", len(s), s)
		}
	}
}
