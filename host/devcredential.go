package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/edgetoken/edgetoken/host/internal/refresher"
	"github.com/edgetoken/edgetoken/internal/config"
	"github.com/edgetoken/edgetoken/internal/entra/azcred"
	"github.com/edgetoken/edgetoken/internal/token"
)

// developerCredential returns the azidentity credential for a developer
// tool choice in AZURE_TOKEN_CREDENTIALS, and its name for logs and errors.
// These credentials run a command line tool (az, azd, pwsh) with the
// developer's sign-in. The guest cannot start processes, so the host fetches
// with azidentity and stores the tokens where the guest reads them.
func developerCredential(s *config.Settings) (azcore.TokenCredential, string, error) {
	tenant := s.TenantID
	cli := func() (azcore.TokenCredential, error) {
		return azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: tenant})
	}
	azd := func() (azcore.TokenCredential, error) {
		return azidentity.NewAzureDeveloperCLICredential(&azidentity.AzureDeveloperCLICredentialOptions{TenantID: tenant})
	}
	pwsh := func() (azcore.TokenCredential, error) {
		return azidentity.NewAzurePowerShellCredential(&azidentity.AzurePowerShellCredentialOptions{TenantID: tenant})
	}

	var makers []func() (azcore.TokenCredential, error)
	switch s.Credential {
	case config.CredentialAzureCLI:
		makers = append(makers, cli)
	case config.CredentialAzureDeveloperCLI:
		makers = append(makers, azd)
	case config.CredentialAzurePowerShell:
		makers = append(makers, pwsh)
	case config.CredentialDeveloper:
		// The order of DefaultAzureCredential's developer tools.
		makers = append(makers, cli, azd, pwsh)
	default:
		return nil, "", fmt.Errorf("%s %q is not a developer tool credential", config.EnvTokenCredentials, s.Credential)
	}

	creds := make([]azcore.TokenCredential, 0, len(makers))
	for _, newCredential := range makers {
		c, err := newCredential()
		if err != nil {
			return nil, "", fmt.Errorf("%s=%s: %w", config.EnvTokenCredentials, s.Credential, err)
		}
		creds = append(creds, c)
	}
	name := "developer sign-in (" + string(s.Credential) + ")"
	if len(creds) == 1 {
		return creds[0], name, nil
	}
	chain, err := azidentity.NewChainedTokenCredential(creds, nil)
	if err != nil {
		return nil, "", fmt.Errorf("%s=%s: %w", config.EnvTokenCredentials, s.Credential, err)
	}
	return chain, name, nil
}

// nativeRefresh returns the refresher's call for host-fetched tokens: it
// refreshes through cache, which writes to the store the guest reads.
// As with the guest, the first run for each token keeps a token that is
// already stored.
func nativeRefresh(cache *token.Cache, scopes map[string]string) func(context.Context, string) (refresher.Result, error) {
	var warmed sync.Map // token name -> true after its first successful run
	return func(ctx context.Context, name string) (refresher.Result, error) {
		scope, ok := scopes[name]
		if !ok {
			return refresher.Result{}, fmt.Errorf("refresh %s: no such token", name)
		}
		refresh := cache.Refresh
		if _, ok := warmed.Load(name); !ok {
			refresh = cache.Get
		}
		t, err := refresh(ctx, scope)
		if err != nil && (t.Value == "" || !token.IsUsable(err)) {
			if wait, ok := token.RetryAfter(err); ok && wait > 0 {
				return refresher.Result{}, &refresher.RetryAfterError{Err: err, After: wait}
			}
			return refresher.Result{}, fmt.Errorf("refresh %s: %w", name, err)
		}
		warmed.Store(name, true)
		return refresher.Result{ExpiresOn: t.ExpiresOn, RefreshOn: t.RefreshOn}, nil
	}
}

// newDeveloperCache returns the cache through which the host fetches tokens
// with a developer tool credential.
func newDeveloperCache(s *config.Settings, store token.Store) (*token.Cache, string, error) {
	cred, name, err := developerCredential(s)
	if err != nil {
		return nil, "", err
	}
	fetcher := azcred.FromTokenCredential(cred, name)
	cache := token.NewCache(store, fetcher, token.CacheOptions{
		MinLifetime: s.MinLifetime,
		// A developer tool runs as a subprocess and may take seconds.
		WaitTimeout: 30 * time.Second,
	})
	return cache, name, nil
}
