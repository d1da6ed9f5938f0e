// Package azcred adapts an azcore.TokenCredential, such as one of
// azidentity's credentials, to token.Fetcher, so a Go program that embeds
// the host can bring the credential it already has. It lives apart from
// package entra so that the wasm guest does not link azcore.
package azcred

import (
	"context"
	"errors"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/edgetoken/edgetoken/internal/entra"
	"github.com/edgetoken/edgetoken/internal/token"
)

// FromTokenCredential returns a token.Fetcher that requests a token from cred,
// one scope per request. name is the credential's name in errors and logs
// ("azidentity ClientSecretCredential").
//
// Failures are returned as *entra.AuthError. When azidentity reports the
// authority's response (an *azidentity.AuthenticationFailedError), the
// error carries its status, so Permanent tells a rejected configuration
// from a passing outage. Other failures have no status and count as
// transient. cred keeps its own retry policy and token cache.
func FromTokenCredential(cred azcore.TokenCredential, name string) token.Fetcher {
	return &fetcher{cred: cred, name: name}
}

type fetcher struct {
	cred azcore.TokenCredential
	name string
}

func (f *fetcher) FetchToken(ctx context.Context, scope string) (token.Token, error) {
	at, err := f.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		e := &entra.AuthError{Credential: f.name, Err: err}
		var afe *azidentity.AuthenticationFailedError
		if errors.As(err, &afe) && afe.RawResponse != nil {
			e.StatusCode = afe.RawResponse.StatusCode
		}
		return token.Token{}, e
	}
	if at.Token == "" {
		err := errors.New("credential returned an empty token")
		return token.Token{}, &entra.AuthError{Credential: f.name, Err: err}
	}

	t := token.Token{Value: at.Token, ExpiresOn: at.ExpiresOn, RefreshOn: at.RefreshOn}
	if t.RefreshOn.IsZero() || !t.RefreshOn.Before(t.ExpiresOn) {
		// azcore leaves RefreshOn zero when the authority sent no
		// refresh_in; start five minutes early, as azcore's bearer
		// token policy does.
		t.RefreshOn = t.ExpiresOn.Add(-5 * time.Minute)
	}
	return t, nil
}
