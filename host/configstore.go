package main

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/edgetoken/edgetoken/internal/config"
)

// Config store keys the host adds to the variables' lower-case names. The
// guest has no file system, so the host reads the files the variables name.
const (
	keyRefreshKey = "refresh_key"
	// keyClientCertificate is the PEM text of AZURE_CLIENT_CERTIFICATE_PATH,
	// read once at start.
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

// newConfigStore copies every variable config knows, under its lower-case
// name, from lookup, and adds the host's keys. It fails, naming the
// variable, when a file a variable names cannot be read.
func newConfigStore(lookup func(string) (string, bool), s *config.Settings, refreshKey string) (*configStore, error) {
	c := &configStore{values: map[string]string{keyRefreshKey: refreshKey}}
	for _, v := range config.Variables() {
		if value, ok := lookup(v.Name); ok && value != "" {
			c.values[strings.ToLower(v.Name)] = value
		}
	}

	if s.ClientCertificatePath != "" {
		pem, err := os.ReadFile(s.ClientCertificatePath)
		if err != nil {
			return nil, fmt.Errorf("%s: read certificate: %w", config.EnvClientCertificatePath, err)
		}
		c.values[keyClientCertificate] = string(pem)
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
