package conformance

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/internal/testenv"
)

var client = &http.Client{Timeout: 15 * time.Second}

// request is one HTTP request to the service under test.
type request struct {
	method string
	path   string
	header map[string]string
}

// response is the service's reply with the body read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, target Target, r request) response {
	t.Helper()
	req, err := http.NewRequest(r.method, target.BaseURL()+r.path, nil)
	if err != nil {
		t.Fatalf("build %s %s: %v", r.method, r.path, err)
	}
	for name, value := range r.header {
		req.Header.Set(name, value)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s %s: %v", r.method, r.path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// corsHeaders are checked on every response: a case lists the ones it
// expects, and the others must be absent.
var corsHeaders = []string{
	"Access-Control-Allow-Origin",
	"Access-Control-Allow-Methods",
	"Access-Control-Allow-Headers",
	"Access-Control-Allow-Credentials",
	"Access-Control-Max-Age",
	"Access-Control-Expose-Headers",
	"Vary",
}

// checkHeaders compares each header in want with the response, where ""
// means absent, and requires every CORS header not in want to be absent.
func checkHeaders(t *testing.T, got http.Header, want map[string]string) {
	t.Helper()
	for name, value := range want {
		values := got.Values(name)
		switch {
		case value == "" && len(values) > 0:
			t.Errorf("header %s: got %q, want absent", name, values)
		case value != "" && (len(values) != 1 || values[0] != value):
			t.Errorf("header %s: got %q, want %q", name, values, value)
		}
	}
	for _, name := range corsHeaders {
		if _, listed := want[name]; listed {
			continue
		}
		if values := got.Values(name); len(values) > 0 {
			t.Errorf("header %s: got %q, want absent", name, values)
		}
	}
}

func checkStatus(t *testing.T, r request, got response, want int) {
	t.Helper()
	if got.status != want {
		t.Fatalf("%s %s: status %d, want %d; body %q", r.method, r.path, got.status, want, got.body)
	}
}

// speechToken checks a /speech body: exactly
// {"speech_token":"aad#<SPEECH_RESOURCE_ID>#<token>"} where token is an
// access token from o for SpeechResource. It returns the access token.
func speechToken(t *testing.T, o *testenv.OIDC, body []byte) string {
	t.Helper()
	var decoded map[string]string
	if err := json.Unmarshal(body, &decoded); err != nil {
		t.Fatalf("decode /speech body %q: %v", body, err)
	}
	prefix := "aad#" + SpeechResourceID + "#"
	value, ok := decoded["speech_token"]
	if !ok || !strings.HasPrefix(value, prefix) {
		t.Fatalf("/speech body: got %q, want {\"speech_token\":\"%s<token>\"}", body, prefix)
	}
	token := strings.TrimPrefix(value, prefix)

	want := `{"speech_token":"` + prefix + token + `"}`
	if string(body) != want {
		t.Errorf("/speech body: got %q, want %q", body, want)
	}
	claims := o.VerifyJWT(t, token)
	if aud, _ := claims.GetAudience(); len(aud) != 1 || aud[0] != SpeechResource {
		t.Errorf("speech token aud: got %q, want %q", aud, SpeechResource)
	}
	return token
}

// apiToken checks an /api body: exactly
// {"access_token":"<token>","expires_on":"<unix s>"} where token is an
// access token from o for APIAppID and expires_on matches its exp claim.
// It returns the access token.
func apiToken(t *testing.T, o *testenv.OIDC, body []byte) string {
	t.Helper()
	var decoded struct {
		AccessToken string `json:"access_token"`
		ExpiresOn   string `json:"expires_on"`
	}
	if err := json.Unmarshal(body, &decoded); err != nil {
		t.Fatalf("decode /api body %q: %v", body, err)
	}
	want := `{"access_token":"` + decoded.AccessToken + `","expires_on":"` + decoded.ExpiresOn + `"}`
	if string(body) != want {
		t.Errorf("/api body: got %q, want %q", body, want)
	}

	claims := o.VerifyJWT(t, decoded.AccessToken)
	if aud, _ := claims.GetAudience(); len(aud) != 1 || aud[0] != APIAppID {
		t.Errorf("api token aud: got %q, want %q", aud, APIAppID)
	}
	expiresOn, err := strconv.ParseInt(decoded.ExpiresOn, 10, 64)
	if err != nil {
		t.Fatalf("/api expires_on %q: not Unix seconds: %v", decoded.ExpiresOn, err)
	}
	// The service computes expires_on from expires_in when the response
	// arrives, the authority computes exp when it signs: a second or two apart.
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		t.Fatalf("api token exp: %v", err)
	}
	if diff := expiresOn - exp.Unix(); diff < -2 || diff > 2 {
		t.Errorf("/api expires_on: got %d, want the token's exp %d (within 2s)", expiresOn, exp.Unix())
	}
	return decoded.AccessToken
}

// checkDetail checks a FastAPI-shaped error body: exactly {"detail":"<want>"}.
func checkDetail(t *testing.T, got response, want string) {
	t.Helper()
	encoded, err := json.Marshal(map[string]string{"detail": want})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.body, encoded) {
		t.Errorf("body: got %q, want %q", got.body, encoded)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
}
