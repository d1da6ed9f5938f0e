package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"

	"github.com/edgetoken/edgetoken/internal/authority"
	"github.com/edgetoken/edgetoken/internal/config"
)

// Identifiers the guest uses against the local authority. They are fixed
// so that log lines from one run compare with the next. The secret changes
// on every start.
const (
	localTenantID = "00000000-0000-4000-8000-00000000107a"
	localClientID = "00000000-0000-4000-8000-0000000010ca"
)

// credentialVariables are the variables that select a real credential.
// When none is set, the host uses the local authority.
var credentialVariables = []string{
	config.EnvClientID, config.EnvTenantID, config.EnvClientSecret,
	config.EnvClientCertificatePath, config.EnvFederatedTokenFile,
	config.EnvIdentityEndpoint, config.EnvIdentityHeader, config.EnvTokenCredentials,
}

func hasCredentials(env func(string) (string, bool)) bool {
	for _, name := range credentialVariables {
		if v, ok := env(name); ok && v != "" {
			return true
		}
	}
	return false
}

// startLocalAuthority serves a local authority on a loopback port and
// returns a lookup that points the guest at it with a client secret: the
// local values replace the credential variables of env, and every other
// variable passes through.
func startLocalAuthority(env func(string) (string, bool), log *slog.Logger, forced bool) (
	*authority.Server, func(string) (string, bool), error) {

	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, nil, fmt.Errorf("generate local client secret: %w", err)
	}
	secret := hex.EncodeToString(b[:])

	a, err := authority.New(authority.Options{ClientID: localClientID, ClientSecret: secret})
	if err != nil {
		return nil, nil, err
	}
	srv, err := authority.Serve(a, authority.ServeOptions{Logger: log})
	if err != nil {
		return nil, nil, err
	}
	reason := "no Azure credential variable is set"
	if forced {
		reason = "-local-authority was given"
	}
	log.Warn("serving tokens from the local authority: they are NOT real and no Azure service accepts them",
		"reason", reason, "authority", srv.URL)

	local := map[string]string{
		config.EnvAuthorityHost: srv.URL,
		config.EnvTenantID:      localTenantID,
		config.EnvClientID:      localClientID,
		config.EnvClientSecret:  secret,
	}
	lookup := func(name string) (string, bool) {
		if v, ok := local[name]; ok {
			return v, true
		}
		for _, hidden := range credentialVariables {
			if name == hidden {
				return "", false
			}
		}
		switch name {
		case config.EnvClientCertificatePassword:
			return "", false
		}
		return env(name)
	}
	return srv, lookup, nil
}
