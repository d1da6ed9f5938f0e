package entra

import (
	"context"
	"errors"
	"testing"

	"github.com/edgetoken/edgetoken/internal/config"
)

func TestOptionsFromSettings(t *testing.T) {
	store := map[string]string{
		config.EnvClientCertificate: "PEM TEXT",
		config.EnvFederatedToken:    " first-token\n",
	}
	read := func(name string) (string, bool) { v, ok := store[name]; return v, ok }
	s := &config.Settings{
		Credential: config.CredentialWorkloadIdentity, TenantID: "tenant", ClientID: "client",
		ClientSecret: "secret", AuthorityHost: "https://login.example", IMDSEndpoint: "http://127.0.0.1:1/token",
		FederatedTokenFile: "/var/run/token",
	}

	opts := OptionsFromSettings(s, read)
	if opts.Selection != "WorkloadIdentityCredential" || opts.TenantID != "tenant" || opts.ClientID != "client" ||
		opts.ClientSecret != "secret" || opts.AuthorityHost != "https://login.example" ||
		opts.IMDSEndpoint != "http://127.0.0.1:1/token" {
		t.Errorf("options = %+v", opts)
	}
	if string(opts.ClientCertificate) != "PEM TEXT" {
		t.Errorf("ClientCertificate = %q, want the store's value", opts.ClientCertificate)
	}

	got, err := opts.FederatedToken(context.Background())
	if err != nil || got != "first-token" {
		t.Errorf("FederatedToken = %q, %v; want first-token", got, err)
	}
	// The token is read again on every call, so a rotated file is seen.
	store[config.EnvFederatedToken] = "second-token"
	if got, _ := opts.FederatedToken(context.Background()); got != "second-token" {
		t.Errorf("FederatedToken after rotation = %q, want second-token", got)
	}
	store[config.EnvFederatedToken] = ""
	if _, err := opts.FederatedToken(context.Background()); !errors.Is(err, ErrNoFederatedToken) {
		t.Errorf("FederatedToken with an empty store value: err = %v, want ErrNoFederatedToken", err)
	}
}

func TestOptionsFromSettingsNoFederatedToken(t *testing.T) {
	opts := OptionsFromSettings(&config.Settings{ClientSecret: "secret"},
		func(string) (string, bool) { return "", false })
	if opts.FederatedToken != nil {
		t.Error("FederatedToken is set without a federated token setting")
	}
	if opts.ClientCertificate != nil {
		t.Errorf("ClientCertificate = %q, want none", opts.ClientCertificate)
	}
}
