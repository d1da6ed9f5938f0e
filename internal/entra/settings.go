package entra

import (
	"context"
	"errors"
	"strings"

	"github.com/edgetoken/edgetoken/internal/config"
)

// ErrNoFederatedToken reports that workload identity is configured but the
// config store has no federated token to send.
var ErrNoFederatedToken = errors.New("entra: config store key azure_federated_token is empty: " +
	"set it, or let the host fill it from AZURE_FEDERATED_TOKEN_FILE")

// OptionsFromSettings returns the Options for s. read returns a value of the
// guest's config store by its environment variable name. The certificate
// and the federated token come through read, because the guest has no file
// system: our host fills those keys from the files, and it re-reads the
// token file on every read. The guest and the host both call this, so the
// credential the host logs at start is the one the guest builds.
func OptionsFromSettings(s *config.Settings, read func(name string) (string, bool)) Options {
	opts := Options{
		Selection:        string(s.Credential),
		TenantID:         s.TenantID,
		ClientID:         s.ClientID,
		ClientSecret:     s.ClientSecret,
		AuthorityHost:    s.AuthorityHost,
		IdentityEndpoint: s.IdentityEndpoint,
		IdentityHeader:   s.IdentityHeader,
		IMDSEndpoint:     s.IMDSEndpoint,
	}
	if v, ok := read(config.EnvClientCertificate); ok && v != "" {
		opts.ClientCertificate = []byte(v)
	}

	// NOTE: at the edge AZURE_FEDERATED_TOKEN is a fixed value, so it stops
	// working when that token expires. Only our host re-reads the file.
	if s.FederatedToken != "" || s.FederatedTokenFile != "" {
		opts.FederatedToken = func(context.Context) (string, error) {
			v, _ := read(config.EnvFederatedToken)
			if v = strings.TrimSpace(v); v == "" {
				return "", ErrNoFederatedToken
			}
			return v, nil
		}
	}
	return opts
}
