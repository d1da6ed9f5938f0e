package credentials

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/internal/testenv"
)

// fakeAzureCLI writes an executable named az into a new directory. It
// answers `az account get-access-token` the way Azure CLI 2.x does, with
// a token that names the resource, and appends each argument list to a
// file. It returns the directory and the file.
func fakeAzureCLI(t *testing.T, expiresOn int64) (dir, calls string) {
	t.Helper()
	dir = t.TempDir()
	calls = filepath.Join(dir, "calls.txt")
	script := "#!/bin/sh\n" +
		"echo \"$*\" >> " + calls + "\n" +
		"resource=''\n" +
		"while [ $# -gt 0 ]; do\n" +
		"  if [ \"$1\" = --resource ]; then resource=\"$2\"; fi\n" +
		"  shift\n" +
		"done\n" +
		"printf '{\"accessToken\":\"cli-token-for-%s\",\"expires_on\":" + strconv.FormatInt(expiresOn, 10) +
		",\"tokenType\":\"Bearer\"}\\n' \"$resource\"\n"
	if err := os.WriteFile(filepath.Join(dir, "az"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, calls
}

func TestAzureCLICredentialOnHost(t *testing.T) {
	skipShort(t)
	t.Parallel()
	expiresOn := time.Now().Add(time.Hour).Unix()
	dir, calls := fakeAzureCLI(t, expiresOn)

	const apiAppID = "0000c4ed-a91a-4000-8000-000000000003"
	h := testenv.StartHost(t, with(baseEnv(),
		"LOCAL_MODE", "", "API_APP_ID", apiAppID,
		"AZURE_TOKEN_CREDENTIALS", "AzureCLICredential", "AZURE_TENANT_ID", tenantID,
		"PATH", dir+":/usr/bin:/bin"))

	if got, want := getSpeechToken(t, h), "cli-token-for-"+speechResource; got != want {
		t.Errorf("speech token = %q, want %q", got, want)
	}

	resp, err := http.Get(h.URL + "/api")
	if err != nil {
		t.Fatalf("GET /api: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api: status %d, body %s", resp.StatusCode, body)
	}
	want := `{"access_token":"cli-token-for-` + apiAppID + `","expires_on":"` + strconv.FormatInt(expiresOn, 10) + `"}`
	if string(body) != want {
		t.Errorf("/api body = %s, want %s", body, want)
	}

	raw, err := os.ReadFile(calls)
	if err != nil {
		t.Fatalf("the fake az was never run: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 {
		t.Errorf("az ran %d times, want 2 (one per scope): %q", len(lines), lines)
	}
	for _, resource := range []string{speechResource, apiAppID} {
		want := "account get-access-token -o json --resource " + resource + " --tenant " + tenantID
		if !strings.Contains(string(raw), want+"\n") {
			t.Errorf("az calls %q lack %q", raw, want)
		}
	}
	checkLog(t, h.Log(), "developer sign-in (AzureCLICredential)", `"(developer sign-in)"`,
		"cli-token-for-"+speechResource)
}

func TestAzureCLICredentialFailureIs503(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := t.TempDir()
	script := "#!/bin/sh\necho 'ERROR: Please run az login to setup account.' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "az"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	h := testenv.StartHost(t, with(baseEnv(),
		"AZURE_TOKEN_CREDENTIALS", "AzureCLICredential", "PATH", dir+":/usr/bin:/bin"))
	resp, err := http.Get(h.URL + "/speech")
	if err != nil {
		t.Fatalf("GET /speech: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503; body %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 has no Retry-After")
	}
	var e struct {
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Detail == "" {
		t.Errorf("body %s is not a JSON error", body)
	}
}
