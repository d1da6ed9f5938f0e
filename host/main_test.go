package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func TestRunConfigErrors(t *testing.T) {
	const secret = "s3cr3t-value-never-printed"
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		wantMsg string
	}{
		{"missing_resource_id", []string{"-wasm", "/dev/null"},
			map[string]string{"AZURE_CLIENT_SECRET": secret, "API_APP_ID": "x"}, "SPEECH_RESOURCE_ID"},
		{"secret_without_ids", []string{"-wasm", "/dev/null"},
			map[string]string{"AZURE_CLIENT_SECRET": secret, "LOCAL_MODE": "true",
				"SPEECH_RESOURCE_ID": "/subscriptions/x/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/a"},
			"AZURE_TENANT_ID"},
		{"bad_port", nil, map[string]string{"PORT": "eighty"}, `PORT "eighty" is invalid`},
		{"bad_memory", []string{"-memory-limit", "1"}, nil, "-memory-limit 1 is invalid"},
		{"bad_addr", []string{"-addr", "nonsense"}, nil, `-addr "nonsense" is invalid (EDGETOKEN_ADDR)`},
		{"bad_addr_port", []string{"-addr", "127.0.0.1:99999"}, nil, "the port must be a number from 0 to 65535"},
		{"same_admin_addr", []string{"-addr", "127.0.0.1:8000", "-admin-addr", "127.0.0.1:8000"}, nil,
			"-admin-addr \"127.0.0.1:8000\" is the same as -addr"},
		{"bad_bool_env", nil, map[string]string{"EDGETOKEN_LOCAL_AUTHORITY": "yes"}, "use true or false"},
		{"bad_int_env", nil, map[string]string{"EDGETOKEN_POOL": "abc"}, "use a whole number"},
		{"no_guest", []string{"-wasm", ""}, map[string]string{"AZURE_CLIENT_SECRET": secret}, "no guest module"},
		{"unreadable_guest", []string{"-wasm", "/nonexistent/guest.wasm"}, nil, "read guest module"},
		{"no_credential", []string{"-wasm", "/dev/null"},
			map[string]string{"LOCAL_MODE": "true", "SPEECH_RESOURCE_ID": testResourceID},
			"no Azure credential is configured"},
		{"prod_without_credential", []string{"-wasm", "/dev/null"},
			map[string]string{"LOCAL_MODE": "true", "SPEECH_RESOURCE_ID": testResourceID, "AZURE_TOKEN_CREDENTIALS": "prod"},
			"no Azure credential is configured"},
		{"not_wasm", []string{"-wasm", "/etc/hostname", "-local-authority"},
			map[string]string{"LOCAL_MODE": "true", "SPEECH_RESOURCE_ID": testResourceID},
			"is not a WebAssembly module"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(tc.args, envOf(tc.env), &stderr, &stderr)
			if code != 2 {
				t.Errorf("exit code = %d, want 2; output:\n%s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantMsg) {
				t.Errorf("output lacks %q:\n%s", tc.wantMsg, stderr.String())
			}
			if strings.Contains(stderr.String(), secret) {
				t.Errorf("output contains the secret:\n%s", stderr.String())
			}
		})
	}
}

func TestPortReplacesAddrPort(t *testing.T) {
	f, err := parseFlags([]string{"-addr", "127.0.0.1:9000"}, envOf(map[string]string{"PORT": "8080"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if f.addr != "127.0.0.1:8080" {
		t.Errorf("addr = %q, want 127.0.0.1:8080", f.addr)
	}
}

func TestLocalAuthorityWhenNoCredentials(t *testing.T) {
	if hasCredentials(envOf(map[string]string{"SPEECH_RESOURCE_ID": "x"})) {
		t.Error("hasCredentials without credential variables = true")
	}
	if !hasCredentials(envOf(map[string]string{"IDENTITY_ENDPOINT": "http://127.0.0.1:1/msi/token"})) {
		t.Error("hasCredentials with IDENTITY_ENDPOINT = false")
	}
}

func TestRunRejectsWrongGuest(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.wasm")
	component := filepath.Join(dir, "component.wasm")
	// The smallest core module, with no exports, and a component header.
	if err := os.WriteFile(empty, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(component, []byte("\x00asm\x0d\x00\x01\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"LOCAL_MODE": "true", "SPEECH_RESOURCE_ID": testResourceID})
	for _, tc := range []struct {
		path, want string
	}{
		{empty, "does not export wasi:http/incoming-handler@0.2.0#handle"},
		{component, "is a WebAssembly component"},
	} {
		var out bytes.Buffer
		code := run([]string{"-wasm", tc.path, "-local-authority", "-addr", "127.0.0.1:0", "-cache-dir", ""},
			env, &out, &out)
		if code != 2 {
			t.Errorf("%s: exit code = %d, want 2; output:\n%s", tc.path, code, out.String())
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("%s: output lacks %q:\n%s", tc.path, tc.want, out.String())
		}
	}
}
