package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/edgetoken/edgetoken/internal/access"
	"github.com/edgetoken/edgetoken/internal/config"
	"github.com/edgetoken/edgetoken/internal/entra"
	"github.com/edgetoken/edgetoken/internal/entra/certfile"
)

// Config store keys the host adds to the variables' lower-case names. The
// guest has no file system, so the host reads the files the variables name.
const (
	keyRefreshKey = "refresh_key"
	// keyClientCertificate is the PEM text of AZURE_CLIENT_CERTIFICATE_PATH,
	// read once at start. A PKCS#12 file is decoded here, so the guest only
	// ever parses PEM.
	keyClientCertificate = "azure_client_certificate"
	// keyFederatedToken is the content of AZURE_FEDERATED_TOKEN_FILE, read
	// on every get because the platform rotates the file.
	keyFederatedToken = "azure_federated_token"
)

// configStore is what the guest sees through wasi:config/store.
type configStore struct {
	values             map[string]string // fixed at start
	federatedTokenFile string
}

// newConfigStore copies every variable config and access know, under its
// lower-case name, from lookup, and adds the host's keys. It fails, naming
// the variable, when a file a variable names cannot be read.
// keyLogLevel carries the host's -log-level to the guest; on Spin it is the
// variable edgetoken_log_level.
const keyLogLevel = "edgetoken_log_level"

func newConfigStore(lookup func(string) (string, bool), s *config.Settings, refreshKey string) (*configStore, error) {
	c := &configStore{values: map[string]string{keyRefreshKey: refreshKey}}
	for _, v := range append(config.Variables(), access.Variables()...) {
		if value, ok := lookup(v.Name); ok && value != "" {
			c.values[strings.ToLower(v.Name)] = value
		}
	}

	if s.ClientCertificatePath != "" {
		pemText, err := readCertificate(s.ClientCertificatePath, s.ClientCertificatePassword)
		if err != nil {
			return nil, err
		}
		c.values[keyClientCertificate] = pemText
	}
	if s.FederatedTokenFile != "" {
		if _, err := c.readFederatedToken(s.FederatedTokenFile); err != nil {
			return nil, err
		}
		c.federatedTokenFile = s.FederatedTokenFile
	}
	return c, nil
}

func (c *configStore) readFederatedToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: read federated token: %w", config.EnvFederatedTokenFile, err)
	}
	return string(bytes.TrimSpace(b)), nil
}

// get returns the value under key. A federated token file that cannot be
// read counts as an absent key, so the guest's token request fails with a
// missing-setting error until the file is back.
// lookup reads a key by its environment variable name, as the guest does.
func (c *configStore) lookup(name string) (string, bool) { return c.get(strings.ToLower(name)) }

func (c *configStore) get(key string) (string, bool) {
	if key == keyFederatedToken && c.federatedTokenFile != "" {
		v, err := c.readFederatedToken(c.federatedTokenFile)
		return v, err == nil && v != ""
	}
	v, ok := c.values[key]
	return v, ok
}

// keys returns every key get can return, sorted.
func (c *configStore) keys() []string {
	keys := make([]string, 0, len(c.values)+1)
	for k := range c.values {
		keys = append(keys, k)
	}
	if c.federatedTokenFile != "" {
		keys = append(keys, keyFederatedToken)
	}
	slices.Sort(keys)
	return keys
}

// readCertificate reads the client certificate file at path, PEM or
// PKCS#12, and returns it as PEM text. Errors name the variables, never the
// password.
func readCertificate(path, password string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: read certificate: %w", config.EnvClientCertificatePath, err)
	}
	pemText, err := certfile.ToPEM(data, password)
	if errors.Is(err, certfile.ErrIncorrectPassword) {
		return "", fmt.Errorf("%s %q: %w; check %s", config.EnvClientCertificatePath, path, err,
			config.EnvClientCertificatePassword)
	}
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", config.EnvClientCertificatePath, path, err)
	}
	if err := entra.CheckCertificate(pemText); err != nil {
		return "", fmt.Errorf("%s %q: %w", config.EnvClientCertificatePath, path, err)
	}
	return string(pemText), nil
}

// logCredential logs the credential the guest will use, with its client ID.
// It fails when the guest could not build that credential (a certificate
// without a usable key, missing IDs), so the host stops at start instead of
// returning 500 to every request. Both sides build the options with
// entra.OptionsFromSettings, so the guest makes the same choice.
func logCredential(log *slog.Logger, s *config.Settings, c *configStore) error {
	cred, err := entra.New(entra.OptionsFromSettings(s, c.lookup), nil)
	if err != nil {
		return err
	}
	chosenBy := "chain"
	if s.Credential != config.CredentialAuto {
		chosenBy = config.EnvTokenCredentials
	}
	clientID := cred.ClientID()
	if clientID == "" {
		clientID = "(system-assigned)"
	}
	attrs := []any{"credential", cred.Name(), "client_id", clientID, "chosen_by", chosenBy}
	switch {
	case strings.HasPrefix(cred.Name(), "managed identity") && s.IdentityEndpoint != "":
		attrs = append(attrs, "endpoint", s.IdentityEndpoint)
	case strings.HasPrefix(cred.Name(), "managed identity"):
		attrs = append(attrs, "endpoint", s.IMDSEndpoint)
	default:
		attrs = append(attrs, "tenant_id", s.TenantID, "authority_host", s.AuthorityHost)
	}
	log.Info("token credential", attrs...)
	return nil
}
