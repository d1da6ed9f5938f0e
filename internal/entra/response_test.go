package entra

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var received = time.Unix(1_700_000_000, 0)

func TestParseToken(t *testing.T) {
	tests := []struct {
		name          string
		body          string
		wantExpiresOn time.Time
		wantRefreshOn time.Time
	}{
		{
			name: "entra_v2",
			body: `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ.a.b"}`,
			// 3599 s is under two hours, so refresh five minutes early.
			wantExpiresOn: received.Add(3599 * time.Second),
			wantRefreshOn: received.Add(3299 * time.Second),
		},
		{
			name:          "entra_refresh_in",
			body:          `{"token_type":"Bearer","expires_in":86399,"refresh_in":43199,"access_token":"eyJ.a.b"}`,
			wantExpiresOn: received.Add(86399 * time.Second),
			wantRefreshOn: received.Add(43199 * time.Second),
		},
		{
			name:          "expires_in_string",
			body:          `{"token_type":"Bearer","expires_in":"3600","ext_expires_in":"3600","access_token":"eyJ.a.b"}`,
			wantExpiresOn: received.Add(time.Hour),
			wantRefreshOn: received.Add(55 * time.Minute),
		},
		{
			name:          "long_lifetime_half",
			body:          `{"expires_in":86400,"access_token":"eyJ.a.b"}`,
			wantExpiresOn: received.Add(24 * time.Hour),
			wantRefreshOn: received.Add(12 * time.Hour),
		},
		{
			name:          "short_lifetime_half",
			body:          `{"expires_in":120,"access_token":"eyJ.a.b"}`,
			wantExpiresOn: received.Add(2 * time.Minute),
			wantRefreshOn: received.Add(time.Minute),
		},
		{
			name:          "refresh_in_past_expiry_ignored",
			body:          `{"expires_in":3600,"refresh_in":7200,"access_token":"eyJ.a.b"}`,
			wantExpiresOn: received.Add(time.Hour),
			wantRefreshOn: received.Add(55 * time.Minute),
		},
		{
			name:          "mi_expires_on_number",
			body:          `{"access_token":"eyJ.a.b","expires_on":1700086400,"resource":"https://vault.azure.net","token_type":"Bearer"}`,
			wantExpiresOn: time.Unix(1_700_086_400, 0),
			wantRefreshOn: received.Add(12 * time.Hour),
		},
		{
			name:          "mi_expires_on_string",
			body:          `{"access_token":"eyJ.a.b","expires_on":"1700003600","resource":"https://vault.azure.net","token_type":"Bearer","client_id":"c"}`,
			wantExpiresOn: time.Unix(1_700_003_600, 0),
			wantRefreshOn: received.Add(55 * time.Minute),
		},
		{
			// 1700000000 is 2023-11-14 22:13:20 UTC.
			name:          "mi_expires_on_date",
			body:          `{"access_token":"eyJ.a.b","expires_on":"11/14/2023 23:13:20 +00:00","resource":"https://vault.azure.net","token_type":"Bearer"}`,
			wantExpiresOn: time.Unix(1_700_003_600, 0),
			wantRefreshOn: received.Add(55 * time.Minute),
		},
		{
			name:          "mi_expires_on_date_offset",
			body:          `{"access_token":"eyJ.a.b","expires_on":"11/15/2023 00:13:20 +01:00","token_type":"Bearer"}`,
			wantExpiresOn: time.Unix(1_700_003_600, 0),
			wantRefreshOn: received.Add(55 * time.Minute),
		},
		{
			name:          "imds_both_strings",
			body:          `{"access_token":"eyJ.a.b","client_id":"c","expires_in":"86400","expires_on":"1700086400","ext_expires_in":"86399","not_before":"1699999700","resource":"https://vault.azure.net/","token_type":"Bearer"}`,
			wantExpiresOn: received.Add(24 * time.Hour),
			wantRefreshOn: received.Add(12 * time.Hour),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseToken([]byte(tc.body), received)
			if err != nil {
				t.Fatalf("parseToken: %v", err)
			}
			if got.Value != "eyJ.a.b" {
				t.Errorf("Value = %q, want %q", got.Value, "eyJ.a.b")
			}
			if !got.ExpiresOn.Equal(tc.wantExpiresOn) {
				t.Errorf("ExpiresOn = %v, want %v", got.ExpiresOn, tc.wantExpiresOn)
			}
			if !got.RefreshOn.Equal(tc.wantRefreshOn) {
				t.Errorf("RefreshOn = %v, want %v", got.RefreshOn, tc.wantRefreshOn)
			}
		})
	}
}

func TestParseTokenRejects(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{"not_json", `<html>`, "decode token response"},
		{"no_token", `{"token_type":"Bearer","expires_in":3599}`, "no access_token"},
		{"empty_token", `{"access_token":"","expires_in":3599}`, "no access_token"},
		{"no_lifetime", `{"access_token":"x","token_type":"Bearer"}`, "neither expires_in nor expires_on"},
		{"null_lifetime", `{"access_token":"x","expires_in":null}`, "neither expires_in nor expires_on"},
		{"zero_expires_in", `{"access_token":"x","expires_in":0}`, "expired"},
		{"negative_expires_in", `{"access_token":"x","expires_in":-5}`, "invalid expires_in"},
		{"word_expires_in", `{"access_token":"x","expires_in":"soon"}`, "invalid expires_in"},
		{"bool_expires_in", `{"access_token":"x","expires_in":true}`, "invalid expires_in"},
		{"huge_expires_in", `{"access_token":"x","expires_in":1e300}`, "invalid expires_in"},
		{"past_expires_on", `{"access_token":"x","expires_on":"1600000000"}`, "expired"},
		{"bad_date", `{"access_token":"x","expires_on":"2023-11-14T23:13:20Z"}`, "invalid expires_on"},
		{"bad_refresh_in", `{"access_token":"x","expires_in":3600,"refresh_in":"later"}`, "invalid refresh_in"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseToken([]byte(tc.body), received)
			if err == nil {
				t.Fatal("parseToken succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestResponseError(t *testing.T) {
	body := `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.\r\nTrace ID: 0e5c2e4a-1d5b-4b4e-9a57-3a4c2f8b2a00\r\nCorrelation ID: 5d0b0c7f-4a5e-4e0c-8a57-1b2c3d4e5f60\r\nTimestamp: 2024-03-01 10:00:00Z","error_codes":[7000215],"timestamp":"2024-03-01 10:00:00Z","trace_id":"0e5c2e4a-1d5b-4b4e-9a57-3a4c2f8b2a00","correlation_id":"5d0b0c7f-4a5e-4e0c-8a57-1b2c3d4e5f60","error_uri":"https://login.microsoftonline.com/error?code=7000215"}`
	got := newResponseError("client secret", 401, []byte(body), 0, nil)
	want := &AuthError{
		Credential:    "client secret",
		StatusCode:    401,
		Code:          "invalid_client",
		Description:   "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.",
		AADSTSCodes:   []int{7000215},
		TraceID:       "0e5c2e4a-1d5b-4b4e-9a57-3a4c2f8b2a00",
		CorrelationID: "5d0b0c7f-4a5e-4e0c-8a57-1b2c3d4e5f60",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if !got.Permanent() {
		t.Error("Permanent() = false, want true")
	}
	wantMsg := `entra: client secret: token request failed: status 401, error "invalid_client", AADSTS7000215, ` +
		`description "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.", ` +
		`trace ID 0e5c2e4a-1d5b-4b4e-9a57-3a4c2f8b2a00, correlation ID 5d0b0c7f-4a5e-4e0c-8a57-1b2c3d4e5f60`
	if got.Error() != wantMsg {
		t.Errorf("Error() = %q\nwant      %q", got.Error(), wantMsg)
	}
}

func TestResponseErrorAppService(t *testing.T) {
	got := newResponseError("managed identity", 400, []byte(`{"statusCode":400,"message":"No managed identity found for the specified client ID.","correlationId":"x"}`), 0, nil)
	if got.Description != "No managed identity found for the specified client ID." {
		t.Errorf("Description = %q", got.Description)
	}
	if got.Code != "" {
		t.Errorf("Code = %q, want empty", got.Code)
	}
}

func TestAuthErrorPermanent(t *testing.T) {
	tests := []struct {
		name string
		err  AuthError
		want bool
	}{
		{"invalid_client", AuthError{StatusCode: 401, Code: "invalid_client"}, true},
		{"unauthorized_client", AuthError{StatusCode: 400, Code: "unauthorized_client"}, true},
		{"invalid_request", AuthError{StatusCode: 400, Code: "invalid_request"}, true},
		{"invalid_scope", AuthError{StatusCode: 400, Code: "invalid_scope"}, true},
		{"invalid_grant", AuthError{StatusCode: 400, Code: "invalid_grant"}, true},
		{"status_400", AuthError{StatusCode: 400}, true},
		{"status_401", AuthError{StatusCode: 401}, true},
		{"status_403", AuthError{StatusCode: 403}, true},
		{"redirect", AuthError{StatusCode: 302, Err: errRedirect}, true},
		{"bad_200", AuthError{StatusCode: 200, Err: errors.New("no access_token")}, true},
		{"status_408", AuthError{StatusCode: 408}, false},
		{"status_410", AuthError{StatusCode: 410}, false},
		{"status_429", AuthError{StatusCode: 429, Code: "temporarily_unavailable"}, false},
		{"status_500", AuthError{StatusCode: 500}, false},
		{"status_503", AuthError{StatusCode: 503, Code: "temporarily_unavailable"}, false},
		{"transport", AuthError{Err: errors.New("connection refused")}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Permanent(); got != tc.want {
				t.Errorf("Permanent() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{" 5 ", 5 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"999999999", 24 * time.Hour},
		{"Fri, 01 Mar 2024 10:01:30 GMT", 90 * time.Second},
		{"Fri, 01 Mar 2024 09:59:00 GMT", 0},
		{"soon", 0},
	}
	for _, tc := range tests {
		if got := parseRetryAfter(tc.value, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.value, got, tc.want)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	seeds := []string{
		`{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ.a.b"}`,
		`{"expires_in":"3600","refresh_in":"1800","access_token":"x"}`,
		`{"access_token":"x","expires_on":"06/19/2019 23:42:01 +00:00"}`,
		`{"access_token":"x","expires_on":"1/2/2030 3:04:05 PM -07:00"}`,
		`{"access_token":"x","expires_on":1900000000}`,
		`{"access_token":"x","expires_in":1e308}`,
		`{"access_token":"x","expires_in":"NaN"}`,
		`{"access_token":"x","expires_on":"-1e30"}`,
		`null`,
		``,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := parseToken(body, received)
		if err != nil {
			return
		}
		if tok.Value == "" {
			t.Fatal("accepted a response without a token")
		}
		if !tok.ExpiresOn.After(received) {
			t.Fatalf("ExpiresOn %v is not after the receive time", tok.ExpiresOn)
		}
		if tok.RefreshOn.Before(received) || !tok.RefreshOn.Before(tok.ExpiresOn) {
			t.Fatalf("RefreshOn %v is outside [received, ExpiresOn %v)", tok.RefreshOn, tok.ExpiresOn)
		}
	})
}
