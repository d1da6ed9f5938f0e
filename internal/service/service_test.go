package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/internal/config"
	"github.com/edgetoken/edgetoken/internal/token"
)

const (
	resourceID  = "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/a"
	speechScope = "https://cognitiveservices.azure.com/.default"
	apiScope    = "api://backend/.default"
	refreshKey  = "k3y-for-tests"
)

var expires = time.Unix(1700003600, 0)

// fakeTokens returns one token per scope, or err.
type fakeTokens struct {
	err       error
	value     string
	gets      []string
	refreshes []string
}

func (f *fakeTokens) Get(ctx context.Context, scope string) (token.Token, error) {
	f.gets = append(f.gets, scope)
	return f.result(scope)
}

func (f *fakeTokens) Refresh(ctx context.Context, scope string) (token.Token, error) {
	f.refreshes = append(f.refreshes, scope)
	return f.result(scope)
}

func (f *fakeTokens) result(scope string) (token.Token, error) {
	value := f.value
	if value == "" {
		value = "tok-" + scope[:3]
	}
	if f.err != nil && !token.IsUsable(f.err) {
		return token.Token{}, f.err
	}
	return token.Token{Value: value, ExpiresOn: expires, RefreshOn: expires.Add(-30 * time.Minute)}, f.err
}

func settings(t testing.TB, origins string, api bool) *config.Settings {
	t.Helper()
	env := map[string]string{
		"SPEECH_RESOURCE_ID": resourceID,
		"ALLOWED_ORIGINS":    origins,
		"LOCAL_MODE":         "True",
	}
	if api {
		env["API_SCOPE"] = apiScope
	}
	s, err := config.Load(func(n string) (string, bool) { v, ok := env[n]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func req(method, path string, header ...string) *Request {
	r := &Request{Method: method, Path: path}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header = append(r.Header, Field{header[i], header[i+1]})
	}
	return r
}

func fields(kv ...string) []Field {
	var out []Field
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, Field{kv[i], kv[i+1]})
	}
	return out
}

const (
	speechBody = `{"speech_token":"aad#` + resourceID + `#tok-htt"}`
	apiBody    = `{"access_token":"tok-api","expires_on":"1700003600"}`
)

func TestServe(t *testing.T) {
	json200 := []string{"content-type", "application/json", "cache-control", "no-store"}
	with := func(base []string, more ...string) []string { return append(append([]string{}, base...), more...) }
	notFound := []string{"content-type", "application/json"}
	notAllowed := []string{"content-type", "application/json", "allow", "GET, HEAD, POST"}

	tests := []struct {
		name       string
		origins    string
		api        bool
		tokensErr  error
		req        *Request
		wantStatus int
		wantHeader []string
		wantBody   string
	}{
		{"speech_get", "*", true, nil, req("GET", "/speech"), 200, json200, speechBody},
		{"speech_post", "*", true, nil, req("POST", "/speech"), 200, json200, speechBody},
		{"speech_head", "*", true, nil, req("HEAD", "/speech"), 200, json200, ""},
		{"speech_query_ignored", "*", true, nil, &Request{Method: "GET", Path: "/speech", Query: "x=1"}, 200, json200, speechBody},
		{"api_get", "*", true, nil, req("GET", "/api"), 200, json200, apiBody},
		{"api_post", "*", true, nil, req("POST", "/api"), 200, json200, apiBody},
		{"api_head", "*", true, nil, req("HEAD", "/api"), 200, json200, ""},
		{"api_not_configured", "*", false, nil, req("GET", "/api"), 404, notFound, `{"detail":"Not Found"}`},
		{"speech_put", "*", true, nil, req("PUT", "/speech"), 405, notAllowed, `{"detail":"Method Not Allowed"}`},
		{"api_delete", "*", true, nil, req("DELETE", "/api"), 405, notAllowed, `{"detail":"Method Not Allowed"}`},
		{"options_without_preflight", "*", true, nil, req("OPTIONS", "/speech"), 405, notAllowed, `{"detail":"Method Not Allowed"}`},
		{"options_origin_only", "*", true, nil, req("OPTIONS", "/speech", "origin", "https://a.example"), 405,
			with(notAllowed, "access-control-allow-origin", "*"), `{"detail":"Method Not Allowed"}`},
		{"lowercase_method", "*", true, nil, req("get", "/speech"), 405, notAllowed, `{"detail":"Method Not Allowed"}`},
		{"unknown_path", "*", true, nil, req("GET", "/"), 404, notFound, `{"detail":"Not Found"}`},
		{"trailing_slash", "*", true, nil, req("GET", "/speech/"), 404, notFound, `{"detail":"Not Found"}`},
		{"unknown_path_post", "*", true, nil, req("POST", "/token"), 404, notFound, `{"detail":"Not Found"}`},

		{"cors_star", "*", true, nil, req("GET", "/speech", "origin", "https://a.example"), 200,
			with(json200, "access-control-allow-origin", "*"), speechBody},
		{"cors_star_cookie", "*", true, nil, req("GET", "/speech", "origin", "https://a.example", "cookie", "c=1"), 200,
			with(json200, "access-control-allow-origin", "https://a.example", "vary", "Origin"), speechBody},
		{"cors_listed", "https://a.example", true, nil, req("GET", "/speech", "origin", "https://a.example"), 200,
			with(json200, "access-control-allow-origin", "https://a.example", "vary", "Origin"), speechBody},
		{"cors_not_listed", "https://a.example", true, nil, req("GET", "/speech", "origin", "https://b.example"), 200,
			with(json200, "vary", "Origin"), speechBody},
		{"cors_list_no_origin", "https://a.example", true, nil, req("GET", "/speech"), 200,
			with(json200, "vary", "Origin"), speechBody},
		{"cors_on_404", "https://a.example", true, nil, req("GET", "/x", "origin", "https://a.example"), 404,
			with(notFound, "access-control-allow-origin", "https://a.example", "vary", "Origin"), `{"detail":"Not Found"}`},
		{"cors_on_405", "*", true, nil, req("PATCH", "/api", "origin", "https://a.example"), 405,
			with(notAllowed, "access-control-allow-origin", "*"), `{"detail":"Method Not Allowed"}`},

		{"preflight_star", "*", true, nil, req("OPTIONS", "/speech", "origin", "https://a.example",
			"access-control-request-method", "POST", "access-control-request-headers", "content-type, x-custom"), 200,
			[]string{"access-control-allow-origin", "*", "access-control-allow-methods", corsMethods,
				"access-control-max-age", "600", "access-control-allow-headers", "content-type, x-custom",
				"content-type", "text/plain; charset=utf-8"}, "OK"},
		{"preflight_listed", "https://a.example", true, nil, req("OPTIONS", "/api", "origin", "https://a.example",
			"access-control-request-method", "GET"), 200,
			[]string{"vary", "Origin", "access-control-allow-origin", "https://a.example",
				"access-control-allow-methods", corsMethods, "access-control-max-age", "600",
				"content-type", "text/plain; charset=utf-8"}, "OK"},
		{"preflight_any_path", "*", true, nil, req("OPTIONS", "/nowhere", "origin", "https://a.example",
			"access-control-request-method", "GET"), 200,
			[]string{"access-control-allow-origin", "*", "access-control-allow-methods", corsMethods,
				"access-control-max-age", "600", "content-type", "text/plain; charset=utf-8"}, "OK"},
		{"preflight_disallowed_origin", "https://a.example", true, nil, req("OPTIONS", "/speech", "origin", "https://evil.example",
			"access-control-request-method", "GET"), 400,
			[]string{"vary", "Origin", "access-control-allow-methods", corsMethods, "access-control-max-age", "600",
				"content-type", "application/json"}, `{"detail":"Disallowed CORS origin"}`},
		{"preflight_disallowed_method", "*", true, nil, req("OPTIONS", "/speech", "origin", "https://a.example",
			"access-control-request-method", "get"), 400,
			[]string{"access-control-allow-origin", "*", "access-control-allow-methods", corsMethods,
				"access-control-max-age", "600", "content-type", "application/json"}, `{"detail":"Disallowed CORS method"}`},
		{"preflight_disallowed_both", "https://a.example", true, nil, req("OPTIONS", "/speech", "origin", "https://b.example",
			"access-control-request-method", "FETCH"), 400,
			[]string{"vary", "Origin", "access-control-allow-methods", corsMethods, "access-control-max-age", "600",
				"content-type", "application/json"}, `{"detail":"Disallowed CORS origin, method"}`},

		{"token_rejected", "*", true, fmt.Errorf("entra: AADSTS7000215 secret abc: %w", token.ErrRejected), req("GET", "/speech"), 502,
			json200, `{"detail":"token request rejected by the authority"}`},
		{"token_unavailable", "*", true, errors.New("dial tcp: refused"), req("POST", "/api", "origin", "https://a.example"), 503,
			with(json200, "retry-after", "5", "access-control-allow-origin", "*"), `{"detail":"token unavailable, retry later"}`},
		{"token_stale_served", "*", true, &token.UsableError{Scope: apiScope, Stale: true, Err: errors.New("timeout")},
			req("GET", "/api"), 200, json200, apiBody},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := New(settings(t, tc.origins, tc.api), &fakeTokens{err: tc.tokensErr}, Options{Logger: quietLogger()})
			resp := h.Serve(context.Background(), tc.req)
			if resp.Status != tc.wantStatus {
				t.Errorf("got status %d, want %d", resp.Status, tc.wantStatus)
			}
			if want := fields(tc.wantHeader...); !reflect.DeepEqual(resp.Header, want) {
				t.Errorf("got header\n%v\nwant\n%v", resp.Header, want)
			}
			if string(resp.Body) != tc.wantBody {
				t.Errorf("got body %s, want %s", resp.Body, tc.wantBody)
			}
		})
	}
}

func TestServeRefreshWarmUsesStoredToken(t *testing.T) {
	tokens := &fakeTokens{}
	h := New(settings(t, "*", true), tokens, Options{RefreshKey: refreshKey, Logger: quietLogger()})
	r := req("POST", "/.edgetoken/refresh/speech", RefreshKeyHeader, refreshKey)
	r.Query = "warm=1"

	resp := h.Serve(context.Background(), r)
	if want := `{"expires_on":1700003600,"refresh_on":1700001800}`; resp.Status != 200 || string(resp.Body) != want {
		t.Errorf("got %d %s, want 200 %s", resp.Status, resp.Body, want)
	}
	if !reflect.DeepEqual(tokens.gets, []string{speechScope}) {
		t.Errorf("Get called for %v, want [%s]", tokens.gets, speechScope)
	}
	if len(tokens.refreshes) != 0 {
		t.Errorf("Refresh called for %v, want none", tokens.refreshes)
	}
}

func TestServeRefresh(t *testing.T) {
	tests := []struct {
		name       string
		key        string // Options.RefreshKey
		err        error
		req        *Request
		wantStatus int
		wantBody   string
		wantScopes []string
	}{
		{"speech", refreshKey, nil, req("POST", "/.edgetoken/refresh/speech", RefreshKeyHeader, refreshKey),
			200, `{"expires_on":1700003600,"refresh_on":1700001800}`, []string{speechScope}},
		{"api", refreshKey, nil, req("POST", "/.edgetoken/refresh/api", RefreshKeyHeader, refreshKey),
			200, `{"expires_on":1700003600,"refresh_on":1700001800}`, []string{apiScope}},
		{"no_key_configured", "", nil, req("POST", "/.edgetoken/refresh/speech", RefreshKeyHeader, ""),
			404, `{"detail":"Not Found"}`, nil},
		{"wrong_key", refreshKey, nil, req("POST", "/.edgetoken/refresh/speech", RefreshKeyHeader, refreshKey+"x"),
			404, `{"detail":"Not Found"}`, nil},
		{"missing_key", refreshKey, nil, req("POST", "/.edgetoken/refresh/speech"),
			404, `{"detail":"Not Found"}`, nil},
		{"get", refreshKey, nil, req("GET", "/.edgetoken/refresh/speech", RefreshKeyHeader, refreshKey),
			404, `{"detail":"Not Found"}`, nil},
		{"unknown_token", refreshKey, nil, req("POST", "/.edgetoken/refresh/other", RefreshKeyHeader, refreshKey),
			404, `{"detail":"Not Found"}`, nil},
		{"failure", refreshKey, errors.New("down"), req("POST", "/.edgetoken/refresh/speech", RefreshKeyHeader, refreshKey),
			503, `{"detail":"token unavailable, retry later"}`, []string{speechScope}},
		{"stale", refreshKey, &token.UsableError{Scope: speechScope, Stale: true, Err: errors.New("down")},
			req("POST", "/.edgetoken/refresh/speech", RefreshKeyHeader, refreshKey),
			503, `{"detail":"token unavailable, retry later"}`, []string{speechScope}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tokens := &fakeTokens{err: tc.err}
			h := New(settings(t, "*", true), tokens, Options{RefreshKey: tc.key, Logger: quietLogger()})
			resp := h.Serve(context.Background(), tc.req)
			if resp.Status != tc.wantStatus || string(resp.Body) != tc.wantBody {
				t.Errorf("got %d %s, want %d %s", resp.Status, resp.Body, tc.wantStatus, tc.wantBody)
			}
			if !reflect.DeepEqual(tokens.refreshes, tc.wantScopes) {
				t.Errorf("refreshed %v, want %v", tokens.refreshes, tc.wantScopes)
			}
			if len(tokens.gets) != 0 {
				t.Errorf("Get called for %v", tokens.gets)
			}
		})
	}
}

func TestServeLogsWithoutToken(t *testing.T) {
	var buf bytes.Buffer
	tokens := &fakeTokens{value: "SECRET-TOKEN", err: &token.UsableError{Scope: speechScope, Stale: true, Err: errors.New("timeout")}}
	h := New(settings(t, "*", true), tokens, Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	for range 3 {
		h.Serve(context.Background(), req("GET", "/speech"))
	}
	out := buf.String()
	if strings.Contains(out, "SECRET-TOKEN") {
		t.Errorf("log contains the token: %s", out)
	}
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Errorf("got %d warnings, want 1 (rate limited): %s", n, out)
	}
}

func TestServeRetryAfterRoundsUp(t *testing.T) {
	h := New(settings(t, "*", true), &fakeTokens{err: errors.New("x")}, Options{Logger: quietLogger(), RetryAfter: 1500 * time.Millisecond})
	resp := h.Serve(context.Background(), req("GET", "/speech"))
	if got := resp.Header[2]; got != (Field{"retry-after", "2"}) {
		t.Errorf("got %v, want retry-after 2", got)
	}
}

func TestServeBodiesMatchEncodingJSON(t *testing.T) {
	tricky := []string{
		"plain.jwt-value_1",
		"quote\" back\\slash",
		"<script>&amp;</script>",
		"ctl\x00\x01\x1f\b\f\n\r\t\x7f",
		"line\u2028para\u2029",
		"bad utf8 \xff\xfe end \xc3",
		"é ü 日本 🎉",
		"",
	}
	for _, v := range tricky {
		want, _ := json.Marshal(v)
		if got := appendJSONString(nil, v); !bytes.Equal(got, want) {
			t.Errorf("appendJSONString(%q) = %s, want %s", v, got, want)
		}
		if v == "" {
			continue
		}
		h := New(settings(t, "*", true), &fakeTokens{value: v}, Options{Logger: quietLogger()})
		resp := h.Serve(context.Background(), req("GET", "/speech"))
		wantSpeech, _ := json.Marshal(map[string]string{"speech_token": "aad#" + resourceID + "#" + v})
		if !bytes.Equal(resp.Body, wantSpeech) {
			t.Errorf("speech body %s, want %s", resp.Body, wantSpeech)
		}
		resp = h.Serve(context.Background(), req("GET", "/api"))
		wantAPI, _ := json.Marshal(struct {
			AccessToken string `json:"access_token"`
			ExpiresOn   string `json:"expires_on"`
		}{v, "1700003600"})
		if !bytes.Equal(resp.Body, wantAPI) {
			t.Errorf("api body %s, want %s", resp.Body, wantAPI)
		}
	}
}

func TestServeAllocations(t *testing.T) {
	h := New(settings(t, "https://a.example", true), &fakeTokens{value: strings.Repeat("x", 1200)}, Options{Logger: quietLogger()})
	r := req("GET", "/speech", "origin", "https://a.example")
	allocs := testing.AllocsPerRun(100, func() { h.Serve(context.Background(), r) })
	// The Response, its header slice and growth for the CORS fields, and the body.
	if allocs > 5 {
		t.Errorf("got %v allocations per request, want at most 5", allocs)
	}
}

func TestNetHTTP(t *testing.T) {
	h := New(settings(t, "https://a.example", true), &fakeTokens{}, Options{Logger: quietLogger()})
	srv := httptest.NewServer(NetHTTP(h))
	defer srv.Close()

	r, _ := http.NewRequest("POST", srv.URL+"/speech?x=1", strings.NewReader("{}"))
	r.Header.Set("Origin", "https://a.example")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != speechBody {
		t.Errorf("got %d %s, want 200 %s", resp.StatusCode, body, speechBody)
	}
	for name, want := range map[string]string{
		"Content-Type": "application/json", "Cache-Control": "no-store",
		"Access-Control-Allow-Origin": "https://a.example", "Vary": "Origin",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}

	r, _ = http.NewRequest("POST", srv.URL+"/speech", bytes.NewReader(make([]byte, MaxBodySize+1)))
	r.Header.Set("Origin", "https://a.example")
	resp, err = http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || string(body) != `{"detail":"Request Entity Too Large"}` {
		t.Errorf("got %d %s, want 413", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://a.example" {
		t.Errorf("413 lacks CORS: %q", got)
	}

	resp, err = http.Head(srv.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("HEAD got %d %v", resp.StatusCode, resp.Header)
	}
}

// FuzzServe checks that any request gets a well-formed answer that never
// leaks the token outside a 200 token body.
func FuzzServe(f *testing.F) {
	f.Add("GET", "/speech", "https://a.example", "", "")
	f.Add("OPTIONS", "/api", "https://b.example", "GET", "x-a, x-b")
	f.Add("POST", "/.edgetoken/refresh/speech", "", "", refreshKey)
	f.Add("HEAD", "/api", "null", "", "")
	f.Add("OPTIONS", "/", "\x00", "\xff", "\n")
	f.Fuzz(func(t *testing.T, method, path, origin, acrm, extra string) {
		const tokenValue = "TOKEN-VALUE-XYZ"
		h := New(settings(t, "https://a.example", true), &fakeTokens{value: tokenValue}, Options{RefreshKey: refreshKey, Logger: quietLogger()})
		r := &Request{Method: method, Path: path}
		if origin != "" {
			r.Header = append(r.Header, Field{"origin", origin})
		}
		if acrm != "" {
			r.Header = append(r.Header, Field{"access-control-request-method", acrm})
		}
		r.Header = append(r.Header, Field{"access-control-request-headers", extra}, Field{RefreshKeyHeader, extra})
		resp := h.Serve(context.Background(), r)

		switch resp.Status {
		case 200, 400, 404, 405:
		default:
			t.Fatalf("unexpected status %d", resp.Status)
		}
		var ctype string
		for _, f := range resp.Header {
			if f.Name == "content-type" {
				ctype = f.Value
			}
			if f.Name == "access-control-allow-origin" && f.Value != "https://a.example" {
				t.Fatalf("allowed origin %q", f.Value)
			}
		}
		if ctype == "application/json" && len(resp.Body) > 0 && !json.Valid(resp.Body) {
			t.Fatalf("invalid JSON body %q", resp.Body)
		}
		if bytes.Contains(resp.Body, []byte(tokenValue)) && (resp.Status != 200 || (path != "/speech" && path != "/api")) {
			t.Fatalf("token in a %d response to %s", resp.Status, path)
		}
	})
}
