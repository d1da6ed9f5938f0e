package component

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/edgetoken/edgetoken/internal/testenv"
)

var configRead = regexp.MustCompile(`(?m)^jco runner: config read (\S+)$`)

// TestJcoConfigReadsDeclaredInSpinToml records every config store key the
// guest reads while it sets up, with caller authentication on so the access
// settings are read in full, and requires spin.toml to declare and map each
// one. refresh_key is the exception: only our host sets it.
func TestJcoConfigReadsDeclaredInSpinToml(t *testing.T) {
	skipShort(t)
	r := startRunner(t, buildComponent(t), map[string]string{
		"speech_resource_id": speechResourceID,
		"local_mode":         "True",
		// No request reaches the authority: GET / fetches no token.
		"azure_tenant_id":      "contoso.onmicrosoft.com",
		"azure_client_id":      "11111111-1111-1111-1111-111111111111",
		"azure_client_secret":  "test-secret",
		"azure_authority_host": "http://127.0.0.1:9",
		"auth_issuer":          "https://issuer.example.com/",
		"auth_audience":        "api://edgetoken",
		"auth_jwks_url":        "https://issuer.example.com/keys",
	}, "--trace-config")

	// The guest reads its settings at its first request; 404 shows that
	// they loaded.
	if status, body := get(t, r.baseURL+"/"); status != 404 || body != `{"detail":"Not Found"}` {
		t.Fatalf("GET / = %d %q, want 404 Not Found", status, body)
	}

	read := map[string]bool{}
	for _, m := range configRead.FindAllStringSubmatch(r.Log(), -1) {
		read[m[1]] = true
	}
	// The guest reads the names below with these settings, so their absence
	// means the trace is broken.
	for _, key := range []string{"speech_resource_id", "auth_algorithms", "imds_endpoint", "refresh_key"} {
		if !read[key] {
			t.Errorf("the guest did not read %s; keys read: %q", key, sortedKeys(read))
		}
	}

	var manifest struct {
		Variables map[string]any `toml:"variables"`
		Component map[string]struct {
			Variables map[string]string `toml:"variables"`
		} `toml:"component"`
	}
	path := filepath.Join(testenv.RepoRoot(t), "spin.toml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := toml.Decode(string(data), &manifest); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	mapped := manifest.Component["edgetoken"].Variables
	for key := range read {
		if key == "refresh_key" {
			if _, ok := manifest.Variables[key]; ok {
				t.Errorf("spin.toml declares %s, which only our host may set", key)
			}
			continue
		}
		if _, ok := manifest.Variables[key]; !ok {
			t.Errorf("the guest reads %s, which spin.toml [variables] does not declare", key)
		}
		if want := "{{ " + key + " }}"; mapped[key] != want {
			t.Errorf("spin.toml [component.edgetoken.variables] %s = %q, want %q", key, mapped[key], want)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
