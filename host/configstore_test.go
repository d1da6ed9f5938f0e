package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgetoken/edgetoken/internal/config"
)

const (
	certFixtures = "../test/credentials/testdata/"
	p12Password  = "p12-test-password"
)

func TestReadCertificatePKCS12(t *testing.T) {
	got, err := readCertificate(certFixtures+"client.p12", p12Password)
	if err != nil {
		t.Fatalf("readCertificate: %v", err)
	}
	if !strings.Contains(got, "-----BEGIN CERTIFICATE-----") || !strings.Contains(got, "-----BEGIN PRIVATE KEY-----") {
		t.Errorf("readCertificate returned no CERTIFICATE and PRIVATE KEY blocks:\n%s", got)
	}
}

func TestReadCertificateErrors(t *testing.T) {
	tests := []struct {
		name, file, password string
		want                 []string
	}{
		{"wrong_password", "client.p12", "wrong-Qp7~password",
			[]string{"AZURE_CLIENT_CERTIFICATE_PATH", "client.p12", "check AZURE_CLIENT_CERTIFICATE_PASSWORD"}},
		{"aes_encryption", "client-aes.p12", p12Password,
			[]string{"AZURE_CLIENT_CERTIFICATE_PATH", "client-aes.p12", "openssl pkcs12"}},
		{"missing_file", "absent.pem", p12Password,
			[]string{"AZURE_CLIENT_CERTIFICATE_PATH: read certificate"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readCertificate(certFixtures+tc.file, tc.password)
			if err == nil {
				t.Fatal("readCertificate succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), tc.password) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

// TestLogCredential checks the start-up line: the credential the guest will
// choose and the client ID, with no secret in it.
func TestLogCredential(t *testing.T) {
	const (
		clientID = "0000c4ed-c11e-4000-8000-000000000001"
		secret   = "log-test-secret-Wm2~hidden"
	)
	env := map[string]string{
		"SPEECH_RESOURCE_ID":                "/subscriptions/x/resourceGroups/r/providers/Microsoft.CognitiveServices/accounts/s",
		"LOCAL_MODE":                        "True",
		"AZURE_TENANT_ID":                   "contoso.onmicrosoft.com",
		"AZURE_CLIENT_ID":                   clientID,
		"AZURE_CLIENT_SECRET":               secret,
		"AZURE_CLIENT_CERTIFICATE_PATH":     certFixtures + "client.p12",
		"AZURE_CLIENT_CERTIFICATE_PASSWORD": p12Password,
	}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	s, err := config.Load(lookup)
	if err != nil {
		t.Fatal(err)
	}
	store, err := newConfigStore(lookup, s, "refresh-key")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := logCredential(slog.New(slog.NewTextHandler(&buf, nil)), s, store); err != nil {
		t.Fatalf("logCredential: %v", err)
	}
	want := `msg="token credential" credential="client secret" client_id=` + clientID +
		` chosen_by=chain tenant_id=contoso.onmicrosoft.com authority_host=https://login.microsoftonline.com`
	if !strings.Contains(buf.String(), want) {
		t.Errorf("log = %s\nwant it to contain %s", buf.String(), want)
	}
	for _, hidden := range []string{secret, p12Password} {
		if strings.Contains(buf.String(), hidden) {
			t.Errorf("log contains a secret: %s", buf.String())
		}
	}
}

// TestLogCredentialFailsOnBadCertificate checks that a certificate the
// guest could not use stops the host at start.
func TestLogCredentialFailsOnBadCertificate(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"SPEECH_RESOURCE_ID":            "/subscriptions/x/resourceGroups/r/providers/Microsoft.CognitiveServices/accounts/s",
		"LOCAL_MODE":                    "True",
		"AZURE_TENANT_ID":               "contoso.onmicrosoft.com",
		"AZURE_CLIENT_ID":               "0000c4ed-c11e-4000-8000-000000000001",
		"AZURE_CLIENT_CERTIFICATE_PATH": bad,
	}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	s, err := config.Load(lookup)
	if err != nil {
		t.Fatal(err)
	}
	store, err := newConfigStore(lookup, s, "refresh-key")
	if err == nil {
		err = logCredential(slog.New(slog.DiscardHandler), s, store)
	}
	want := `AZURE_CLIENT_CERTIFICATE_PATH "` + bad + `": parse certificate:`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error = %v, want one starting %s", err, want)
	}
}
