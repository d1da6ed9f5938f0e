package main

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/edgetoken/edgetoken/host/internal/egress"
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
// When none is set, the host starts only with -local-authority.
var credentialVariables = []string{
	config.EnvClientID, config.EnvTenantID, config.EnvClientSecret,
	config.EnvClientCertificatePath, config.EnvFederatedTokenFile,
	config.EnvClientCertificate, config.EnvFederatedToken,
	config.EnvIdentityEndpoint, config.EnvIdentityHeader, config.EnvTokenCredentials,
}

// errNoCredential stops a host that has neither a credential nor
// -local-authority.
var errNoCredential = errors.New("no Azure credential is configured: set AZURE_TENANT_ID, AZURE_CLIENT_ID and " +
	"AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE), or IDENTITY_ENDPOINT " +
	"and IDENTITY_HEADER on App Service, or AZURE_TOKEN_CREDENTIALS=ManagedIdentityCredential for IMDS on a " +
	"virtual machine, or AZURE_TOKEN_CREDENTIALS=dev for your Azure CLI sign-in; " +
	"to try the service with tokens that are not real, run with -local-authority")

func hasCredentials(env func(string) (string, bool)) bool {
	for _, name := range credentialVariables {
		v, ok := env(name)
		// prod only names the default chain, which still needs a credential.
		if !ok || v == "" || (name == config.EnvTokenCredentials && v == "prod") {
			continue
		}
		return true
	}
	return false
}

// startLocalAuthority serves a local authority over https on a loopback
// port and returns a lookup that points the guest at it with a client
// secret. The local values replace the credential variables of env, and
// every other variable passes through. It serves https because azidentity
// and MSAL clients accept no other scheme. The certificate is made at start
// and written to a PEM file that the start log names, and Close removes it.
// The guest's requests trust it through localAuthorityTransport.
func startLocalAuthority(env func(string) (string, bool), log *slog.Logger) (
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
	// The process ID keeps two hosts on one machine from overwriting each
	// other's certificate.
	certFile := filepath.Join(os.TempDir(), fmt.Sprintf("edgetoken-local-authority-%d.pem", os.Getpid()))
	srv, err := authority.Serve(a, authority.ServeOptions{TLS: true, CertFile: certFile, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	log.Warn("serving tokens from the local authority: they are NOT real and no Azure service accepts them",
		"reason", "-local-authority was given", "authority", srv.URL, "cert_file", srv.CertFile,
		"client_hint", "azidentity and MSAL clients must trust cert_file and set DisableInstanceDiscovery")

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

// localAuthorityTransport returns the base transport of the egress client
// when srv is running: it trusts srv's certificate only, so the guest's
// requests reach the local authority over https. It returns nil (the
// egress default) when srv is nil. The timeouts are egress's defaults.
func localAuthorityTransport(srv *authority.Server) http.RoundTripper {
	if srv == nil {
		return nil
	}
	return &http.Transport{
		// The authority listens on loopback, where no proxy applies.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: egress.DefaultDialTimeout}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: srv.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   egress.DefaultTLSHandshakeTimeout,
		ResponseHeaderTimeout: egress.DefaultResponseHeaderTimeout,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
}
