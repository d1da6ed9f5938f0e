package azcred_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/edgetoken/edgetoken/internal/authority"
	"github.com/edgetoken/edgetoken/internal/entra"
	"github.com/edgetoken/edgetoken/internal/entra/azcred"
)

const (
	tenant      = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	clientID    = "11111111-2222-3333-4444-555555555555"
	speechScope = "https://cognitiveservices.azure.com/.default"
)

func TestFromTokenCredential(t *testing.T) {
	a, err := authority.New(authority.Options{ClientID: clientID, ClientSecret: "right"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := authority.Serve(a, authority.ServeOptions{TLS: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	newCred := func(secret string) azcore.TokenCredential {
		cred, err := azidentity.NewClientSecretCredential(tenant, clientID, secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions: azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.URL + "/"},
				Transport: s.Client(), // dials loopback addresses only
				Retry:     policy.RetryOptions{MaxRetries: -1},
			},
			DisableInstanceDiscovery: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		return cred
	}

	f := azcred.FromTokenCredential(newCred("right"), "azidentity ClientSecretCredential")
	tok, err := f.FetchToken(context.Background(), speechScope)
	if err != nil {
		t.Fatalf("FetchToken: %v", err)
	}
	if tok.Value == "" {
		t.Error("empty token")
	}
	if d := time.Until(tok.ExpiresOn); d < 59*time.Minute || d > time.Hour {
		t.Errorf("token expires in %v, want about an hour", d)
	}
	if want := tok.ExpiresOn.Add(-5 * time.Minute); !tok.RefreshOn.Equal(want) {
		t.Errorf("RefreshOn = %v, want %v", tok.RefreshOn, want)
	}

	_, err = azcred.FromTokenCredential(newCred("wrong"), "azidentity").FetchToken(context.Background(), speechScope)
	var ae *entra.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an *entra.AuthError", err)
	}
	if ae.StatusCode != 401 || !ae.Permanent() {
		t.Errorf("StatusCode, Permanent = %d, %v, want 401, true", ae.StatusCode, ae.Permanent())
	}
}
