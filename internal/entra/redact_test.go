package entra

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// echoAuthority is a broken authority that copies each request into its
// response: reply gets the raw body (form-encoded), the decoded form and the
// headers, and returns the status and the JSON body to send. It keeps what
// the last request carried, so a test can look for it in the error.
type echoAuthority struct {
	*httptest.Server
	mu   sync.Mutex
	form url.Values
}

func newEchoAuthority(t *testing.T, reply func(raw string, form url.Values, h http.Header) (int, any)) *echoAuthority {
	t.Helper()
	e := &echoAuthority{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		e.mu.Lock()
		e.form = form
		e.mu.Unlock()
		status, body := reply(string(b), form, r.Header)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *echoAuthority) sent(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.form.Get(name)
}

// echoEverything copies the request into every text field of an Entra
// error: the raw body first in the description, then the decoded values,
// so that a value sits across the description's length cap.
func echoEverything(raw string, form url.Values, h http.Header) (int, any) {
	decoded := form.Get("client_secret") + " " + form.Get("client_assertion") + " " + h.Get("X-IDENTITY-HEADER")
	return 400, map[string]any{
		"error":             "invalid_request " + decoded,
		"error_description": "could not read the request: " + raw + " decoded: " + decoded + "\r\nTrace ID: t1",
		"error_codes":       []int{900144},
		"trace_id":          decoded,
		"correlation_id":    raw,
		"message":           decoded,
	}
}

// assertRedacted fails when the error text holds any of the values, in
// plain or form-encoded spelling, or the signature part of a JWT value.
func assertRedacted(t *testing.T, err error, values ...string) {
	t.Helper()
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an *AuthError", err)
	}
	msg := err.Error()
	for _, v := range values {
		if v == "" {
			t.Fatal("the authority received no value to look for")
		}
		forms := []string{v, url.QueryEscape(v)}
		if parts := strings.Split(v, "."); len(parts) == 3 {
			forms = append(forms, parts[2])
		}
		for _, f := range forms {
			if strings.Contains(msg, f) {
				t.Errorf("error contains %.20q...: %s", f, msg)
			}
		}
	}
	if !strings.Contains(msg, redactedText) {
		t.Errorf("error %q does not show where a value was removed", msg)
	}
	if len(ae.Description) > maxDescription || len(ae.Code) > maxShortField ||
		len(ae.TraceID) > maxShortField || len(ae.CorrelationID) > maxShortField {
		t.Errorf("field over its cap: description %d, code %d, trace %d, correlation %d bytes",
			len(ae.Description), len(ae.Code), len(ae.TraceID), len(ae.CorrelationID))
	}
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error %q holds a line break", msg)
	}
}

func TestAuthErrorRedactsEchoedSecret(t *testing.T) {
	// '/', '+', '=' and '&' are spelled differently in a form body.
	const secret = "Xy8Q~s3cr3t/va+lue=&x"
	ea := newEchoAuthority(t, echoEverything)
	cred, err := New(Options{TenantID: testTenant, ClientID: testClientID, ClientSecret: secret,
		AuthorityHost: ea.URL}, ea.Client())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, err = cred.FetchToken(context.Background(), speechScope)
	if ea.sent("client_secret") != secret {
		t.Fatalf("authority received client_secret %q", ea.sent("client_secret"))
	}
	assertRedacted(t, err, secret)
	var ae *AuthError
	errors.As(err, &ae)
	if ae.StatusCode != 400 || len(ae.AADSTSCodes) != 1 || ae.AADSTSCodes[0] != 900144 {
		t.Errorf("AuthError = %+v, want status 400 and AADSTS900144 kept", ae)
	}
}

func TestAuthErrorRedactsEchoedAssertion(t *testing.T) {
	pemData, _ := testCertificate(t)
	ea := newEchoAuthority(t, echoEverything)
	cred, err := New(Options{TenantID: testTenant, ClientID: testClientID, ClientCertificate: pemData,
		AuthorityHost: ea.URL}, ea.Client())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, err = cred.FetchToken(context.Background(), speechScope)
	assertRedacted(t, err, ea.sent("client_assertion"))
}

func TestAuthErrorRedactsEchoedFederatedToken(t *testing.T) {
	const federated = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLW9mLXRoZS1mZWRlcmF0ZWQtdG9rZW4"
	ea := newEchoAuthority(t, echoEverything)
	cred, err := New(Options{TenantID: testTenant, ClientID: testClientID, AuthorityHost: ea.URL,
		FederatedToken: func(context.Context) (string, error) { return federated, nil }}, ea.Client())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, err = cred.FetchToken(context.Background(), speechScope)
	if ea.sent("client_assertion") != federated {
		t.Fatalf("authority received client_assertion %q", ea.sent("client_assertion"))
	}
	assertRedacted(t, err, federated)
}

func TestAuthErrorRedactsEchoedIdentityHeader(t *testing.T) {
	const header = "8a1f/identity+header=value"
	ea := newEchoAuthority(t, func(_ string, _ url.Values, h http.Header) (int, any) {
		// App Service's error shape, with the header in the message.
		return 500, map[string]any{"statusCode": 500,
			"message": "header " + h.Get("X-IDENTITY-HEADER") + " not accepted"}
	})
	cred, err := New(Options{IdentityEndpoint: ea.URL + "/msi/token", IdentityHeader: header}, ea.Client())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, err = cred.FetchToken(context.Background(), speechScope)
	assertRedacted(t, err, header)
	var ae *AuthError
	errors.As(err, &ae)
	if want := "header " + redactedText + " not accepted"; ae.Description != want {
		t.Errorf("Description = %q, want %q", ae.Description, want)
	}
}

func TestAuthErrorRedactsEchoInTokenResponse(t *testing.T) {
	const secret = "Xy8Q~s3cr3t/va+lue=&x"
	// A 200 whose expires_in holds the request: the parse error quotes the
	// start of the bad value.
	ea := newEchoAuthority(t, func(_ string, form url.Values, _ http.Header) (int, any) {
		return 200, map[string]any{"access_token": "x", "expires_in": form.Get("client_secret") + " seconds"}
	})
	cred, _ := New(Options{TenantID: testTenant, ClientID: testClientID, ClientSecret: secret,
		AuthorityHost: ea.URL}, ea.Client())
	_, err := cred.FetchToken(context.Background(), speechScope)
	assertRedacted(t, err, secret, secret[:12])
	if !strings.Contains(err.Error(), "invalid expires_in") {
		t.Errorf("error %q does not name expires_in", err)
	}
}

func TestClipIsStable(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	once := clip(long, maxDescription)
	if len(once) > maxDescription || !strings.HasSuffix(once, "...") {
		t.Errorf("clip gave %d bytes ending %q", len(once), once[len(once)-3:])
	}
	if twice := clip(once, maxDescription); twice != once {
		t.Errorf("clipping twice changed the text")
	}
	if got := clip("a\r\nb\x00c", 10); got != "a  b c" {
		t.Errorf("clip = %q, want control characters replaced", got)
	}
}
