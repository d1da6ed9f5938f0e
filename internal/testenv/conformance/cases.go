package conformance

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/edgetoken/edgetoken/internal/testenv"
)

// concurrentClients is how many clients ask for both tokens at once while
// the service has none cached.
const concurrentClients = 50

func runTokens(t *testing.T, s Starter, o *testenv.OIDC) {
	o.ResetCounts(t)
	target := start(t, s, Env(o))

	speech, api := concurrentTokens(t, target)
	if n := len(speech); n != 1 {
		t.Errorf("distinct speech tokens under %d concurrent clients: got %d, want 1", concurrentClients, n)
	}
	if n := len(api); n != 1 {
		t.Errorf("distinct api tokens under %d concurrent clients: got %d, want 1", concurrentClients, n)
	}
	if got := o.TokenRequests(t, SpeechScope); got != 1 {
		t.Errorf("upstream speech token requests: got %d, want 1", got)
	}
	if got := o.TokenRequests(t, APIScope); got != 1 {
		t.Errorf("upstream api token requests: got %d, want 1", got)
	}

	tokenHeaders := map[string]string{
		"Content-Type":  "application/json",
		"Cache-Control": "no-store",
	}
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodHead} {
		t.Run("speech_"+strings.ToLower(method), func(t *testing.T) {
			r := request{method: method, path: "/speech"}
			got := do(t, target, r)
			checkStatus(t, r, got, http.StatusOK)
			checkHeaders(t, got.header, tokenHeaders)
			if method == http.MethodHead {
				if len(got.body) != 0 {
					t.Errorf("HEAD body: got %d bytes, want none", len(got.body))
				}
				return
			}
			if token := speechToken(t, o, got.body); !speech[token] {
				t.Error("speech token differs from the one served under load, want the cached one")
			}
		})
		t.Run("api_"+strings.ToLower(method), func(t *testing.T) {
			r := request{method: method, path: "/api"}
			got := do(t, target, r)
			checkStatus(t, r, got, http.StatusOK)
			checkHeaders(t, got.header, tokenHeaders)
			if method == http.MethodHead {
				if len(got.body) != 0 {
					t.Errorf("HEAD body: got %d bytes, want none", len(got.body))
				}
				return
			}
			if token := apiToken(t, o, got.body); !api[token] {
				t.Error("api token differs from the one served under load, want the cached one")
			}
		})
	}

	if got := o.TokenRequests(t, SpeechScope); got != 1 {
		t.Errorf("upstream speech token requests after cached reads: got %d, want 1", got)
	}
	if got := o.TokenRequests(t, APIScope); got != 1 {
		t.Errorf("upstream api token requests after cached reads: got %d, want 1", got)
	}
}

// concurrentTokens sends concurrentClients pairs of POST /speech and
// GET /api at once and returns the distinct access tokens served.
func concurrentTokens(t *testing.T, target Target) (speech, api map[string]bool) {
	t.Helper()
	type result struct {
		path   string
		status int
		body   []byte
		err    error
	}
	results := make(chan result, 2*concurrentClients)
	var wg sync.WaitGroup
	begin := make(chan struct{})
	for range concurrentClients {
		for _, r := range []request{{method: http.MethodPost, path: "/speech"}, {method: http.MethodGet, path: "/api"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-begin
				req, err := http.NewRequest(r.method, target.BaseURL()+r.path, nil)
				if err != nil {
					results <- result{path: r.path, err: err}
					return
				}
				resp, err := client.Do(req)
				if err != nil {
					results <- result{path: r.path, err: err}
					return
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				results <- result{path: r.path, status: resp.StatusCode, body: body, err: err}
			}()
		}
	}
	close(begin)
	wg.Wait()
	close(results)

	speech = map[string]bool{}
	api = map[string]bool{}
	failures := 0
	// report logs the first few failures only: the others are alike.
	report := func(format string, args ...any) {
		failures++
		if failures <= 3 {
			t.Errorf(format, args...)
		}
	}
	for res := range results {
		if res.err != nil {
			report("%s: %v", res.path, res.err)
			continue
		}
		if res.status != http.StatusOK {
			report("%s: status %d, want 200; body %q", res.path, res.status, res.body)
			continue
		}
		var decoded map[string]string
		if err := json.Unmarshal(res.body, &decoded); err != nil {
			report("%s: decode body %q: %v", res.path, res.body, err)
			continue
		}
		if res.path == "/speech" {
			speech[strings.TrimPrefix(decoded["speech_token"], "aad#"+SpeechResourceID+"#")] = true
		} else {
			api[decoded["access_token"]] = true
		}
	}
	if failures > 3 {
		t.Errorf("%d of %d concurrent requests failed", failures, 2*concurrentClients)
	}
	return speech, api
}

func runRoutes(t *testing.T, s Starter, o *testenv.OIDC) {
	target := start(t, s, Env(o))

	cases := []struct {
		name   string
		req    request
		status int
		detail string
		header map[string]string
	}{
		{"root_not_found", request{method: http.MethodGet, path: "/"}, 404, "Not Found", nil},
		{"unknown_path", request{method: http.MethodGet, path: "/speech/extra"}, 404, "Not Found", nil},
		{"refresh_route_hidden", request{
			method: http.MethodPost, path: "/.edgetoken/refresh/speech",
			header: map[string]string{"Edgetoken-Refresh-Key": "guess"},
		}, 404, "Not Found", nil},
		{"speech_put", request{method: http.MethodPut, path: "/speech"}, 405, "Method Not Allowed",
			map[string]string{"Allow": "GET, HEAD, POST"}},
		{"api_delete", request{method: http.MethodDelete, path: "/api"}, 405, "Method Not Allowed",
			map[string]string{"Allow": "GET, HEAD, POST"}},
		// OPTIONS without Access-Control-Request-Method is no preflight.
		{"api_options_plain", request{method: http.MethodOptions, path: "/api"}, 405, "Method Not Allowed",
			map[string]string{"Allow": "GET, HEAD, POST"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := do(t, target, tc.req)
			checkStatus(t, tc.req, got, tc.status)
			checkDetail(t, got, tc.detail)
			checkHeaders(t, got.header, tc.header)
		})
	}
}

const (
	allowedOrigin    = "https://app.example.com"
	otherOrigin      = "https://second.example.com"
	disallowedOrigin = "https://evil.example.net"
	// allMethods is Starlette's Access-Control-Allow-Methods for
	// allow_methods=["*"].
	allMethods = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
)

type corsCase struct {
	name   string
	req    request
	status int
	header map[string]string
	// detail is the expected {"detail":...} body; "" means a token body.
	detail string
}

func runCORSCases(t *testing.T, o *testenv.OIDC, target Target, cases []corsCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := do(t, target, tc.req)
			checkStatus(t, tc.req, got, tc.status)
			checkHeaders(t, got.header, tc.header)
			switch {
			case tc.detail != "":
				checkDetail(t, got, tc.detail)
			case tc.req.path == "/speech" && tc.req.method != http.MethodOptions:
				speechToken(t, o, got.body)
			}
		})
	}
}

func preflight(origin, method, headers string) request {
	h := map[string]string{"Origin": origin, "Access-Control-Request-Method": method}
	if headers != "" {
		h["Access-Control-Request-Headers"] = headers
	}
	return request{method: http.MethodOptions, path: "/speech", header: h}
}

func runCORSAnyOrigin(t *testing.T, s Starter, o *testenv.OIDC) {
	target := start(t, s, Env(o)) // ALLOWED_ORIGINS unset: "*"

	runCORSCases(t, o, target, []corsCase{
		{
			name:   "no_origin",
			req:    request{method: http.MethodGet, path: "/speech"},
			status: 200,
			header: map[string]string{},
		},
		{
			name:   "simple_get",
			req:    request{method: http.MethodGet, path: "/speech", header: map[string]string{"Origin": disallowedOrigin}},
			status: 200,
			header: map[string]string{"Access-Control-Allow-Origin": "*"},
		},
		{
			name:   "error_response",
			req:    request{method: http.MethodGet, path: "/nope", header: map[string]string{"Origin": allowedOrigin}},
			status: 404,
			header: map[string]string{"Access-Control-Allow-Origin": "*"},
			detail: "Not Found",
		},
		{
			name:   "preflight",
			req:    preflight(allowedOrigin, "POST", "content-type, x-requested-with"),
			status: 200,
			header: map[string]string{
				"Access-Control-Allow-Origin":  "*",
				"Access-Control-Allow-Methods": allMethods,
				"Access-Control-Allow-Headers": "content-type, x-requested-with",
				"Access-Control-Max-Age":       "600",
			},
		},
		{
			name:   "preflight_no_request_headers",
			req:    preflight(allowedOrigin, "GET", ""),
			status: 200,
			header: map[string]string{
				"Access-Control-Allow-Origin":  "*",
				"Access-Control-Allow-Methods": allMethods,
				"Access-Control-Max-Age":       "600",
			},
		},
	})
}

func runCORSListedOrigins(t *testing.T, s Starter, o *testenv.OIDC) {
	env := Env(o)
	env["ALLOWED_ORIGINS"] = allowedOrigin + "," + otherOrigin
	target := start(t, s, env)

	runCORSCases(t, o, target, []corsCase{
		{
			name:   "listed_origin",
			req:    request{method: http.MethodGet, path: "/speech", header: map[string]string{"Origin": allowedOrigin}},
			status: 200,
			header: map[string]string{"Access-Control-Allow-Origin": allowedOrigin, "Vary": "Origin"},
		},
		{
			name:   "second_listed_origin",
			req:    request{method: http.MethodPost, path: "/speech", header: map[string]string{"Origin": otherOrigin}},
			status: 200,
			header: map[string]string{"Access-Control-Allow-Origin": otherOrigin, "Vary": "Origin"},
		},
		{
			// Starlette serves a simple request from an unlisted origin
			// without Access-Control-Allow-Origin, so the browser hides it.
			name:   "unlisted_origin",
			req:    request{method: http.MethodGet, path: "/speech", header: map[string]string{"Origin": disallowedOrigin}},
			status: 200,
			header: map[string]string{"Vary": "Origin"},
		},
		{
			name:   "error_response",
			req:    request{method: http.MethodPut, path: "/speech", header: map[string]string{"Origin": allowedOrigin}},
			status: 405,
			header: map[string]string{"Access-Control-Allow-Origin": allowedOrigin, "Vary": "Origin", "Allow": "GET, HEAD, POST"},
			detail: "Method Not Allowed",
		},
		{
			name:   "preflight",
			req:    preflight(allowedOrigin, "POST", "content-type"),
			status: 200,
			header: map[string]string{
				"Access-Control-Allow-Origin":  allowedOrigin,
				"Access-Control-Allow-Methods": allMethods,
				"Access-Control-Allow-Headers": "content-type",
				"Access-Control-Max-Age":       "600",
				"Vary":                         "Origin",
			},
		},
		{
			name:   "preflight_unlisted_origin",
			req:    preflight(disallowedOrigin, "POST", "content-type"),
			status: 400,
			header: map[string]string{
				"Access-Control-Allow-Methods": allMethods,
				"Access-Control-Allow-Headers": "content-type",
				"Access-Control-Max-Age":       "600",
				"Vary":                         "Origin",
			},
			detail: "Disallowed CORS origin",
		},
	})
}

func runRejectedSecret(t *testing.T, s Starter, o *testenv.OIDC) {
	env := Env(o)
	env["AZURE_CLIENT_SECRET"] = "wrong-secret-Yk3~never-valid"
	o.ResetCounts(t)
	target := start(t, s, env)

	for _, path := range []string{"/speech", "/api"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			r := request{method: http.MethodGet, path: path}
			got := do(t, target, r)
			checkStatus(t, r, got, http.StatusBadGateway)

			var decoded map[string]string
			if err := json.Unmarshal(got.body, &decoded); err != nil || len(decoded) != 1 || decoded["detail"] == "" {
				t.Errorf("body: got %q, want {\"detail\":\"<message>\"}", got.body)
			}
			if ct := got.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type: got %q, want application/json", ct)
			}
			if strings.Contains(string(got.body), env["AZURE_CLIENT_SECRET"]) {
				t.Errorf("body contains the client secret: %q", got.body)
			}
		})
	}
	if got := o.TokenRequests(t, SpeechScope); got < 1 {
		t.Errorf("upstream speech token requests: got %d, want at least 1", got)
	}
}

func runConfigErrors(t *testing.T, s Starter, o *testenv.OIDC) {
	cases := []struct {
		name     string
		change   func(env map[string]string)
		variable string
	}{
		{"missing_speech_resource_id", func(env map[string]string) { delete(env, "SPEECH_RESOURCE_ID") }, "SPEECH_RESOURCE_ID"},
		{"missing_api_app_id", func(env map[string]string) { delete(env, "API_APP_ID") }, "API_APP_ID"},
		{"missing_api_app_id_local_mode_false", func(env map[string]string) {
			delete(env, "API_APP_ID")
			env["LOCAL_MODE"] = "False"
		}, "API_APP_ID"},
		{"allowed_origins_with_path", func(env map[string]string) {
			env["ALLOWED_ORIGINS"] = "https://app.example.com/index.html"
		}, "ALLOWED_ORIGINS"},
		{"allowed_origins_not_url", func(env map[string]string) {
			env["ALLOWED_ORIGINS"] = "app example"
		}, "ALLOWED_ORIGINS"},
		{"authority_host_not_url", func(env map[string]string) {
			env["AZURE_AUTHORITY_HOST"] = "login example"
		}, "AZURE_AUTHORITY_HOST"},
		{"authority_host_plain_http", func(env map[string]string) {
			env["AZURE_AUTHORITY_HOST"] = "http://login.example.com/"
		}, "AZURE_AUTHORITY_HOST"},
		{"authority_host_with_path", func(env map[string]string) {
			env["AZURE_AUTHORITY_HOST"] = o.URL + "common/"
		}, "AZURE_AUTHORITY_HOST"},
		{"tenant_with_path", func(env map[string]string) { env["AZURE_TENANT_ID"] = "../evil" }, "AZURE_TENANT_ID"},
		{"tenant_with_space", func(env map[string]string) { env["AZURE_TENANT_ID"] = "my tenant" }, "AZURE_TENANT_ID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := Env(o)
			tc.change(env)
			_, err := s.Start(t, env)
			if err == nil {
				t.Fatalf("start succeeded, want an error naming %s", tc.variable)
			}
			if !strings.Contains(err.Error(), tc.variable) {
				t.Errorf("error does not name %s:\n%v", tc.variable, err)
			}
			if strings.Contains(err.Error(), o.ClientSecret) {
				t.Errorf("error contains the client secret:\n%v", err)
			}
		})
	}
}
