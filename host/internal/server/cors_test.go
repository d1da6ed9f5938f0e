package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/edgetoken/edgetoken/host/internal/server"
	"github.com/edgetoken/edgetoken/host/internal/wasihost"
	"github.com/edgetoken/edgetoken/internal/config"
)

// corsHeaders lists a response's CORS fields and Vary, sorted, one
// "Name: value" per field, so a test compares them exactly.
func corsHeaders(h http.Header) string {
	var lines []string
	for name, values := range h {
		if name != "Vary" && !strings.HasPrefix(name, "Access-Control-") {
			continue
		}
		for _, v := range values {
			lines = append(lines, name+": "+v)
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "; ")
}

// errorGuest answers by path: /timeout ends as a guest call out of time,
// /trap as a trapped guest, /hold waits for release, and any other path
// gets 200.
type errorGuest struct {
	entered chan struct{}
	release chan struct{}
}

func (g *errorGuest) handle(_ context.Context, req *wasihost.Request) (*wasihost.Response, error) {
	switch req.PathWithQuery {
	case "/timeout":
		return nil, fmt.Errorf("pool: guest call exceeded 30s: %w", context.DeadlineExceeded)
	case "/trap":
		return nil, errors.New("wasm error: unreachable")
	case "/hold":
		g.entered <- struct{}{}
		<-g.release
	}
	return &wasihost.Response{Status: 200, Body: []byte("ok")}, nil
}

// hostErrors are the answers the server makes without the guest, each with
// the request that provokes it on a server with MaxBodyBytes 16,
// MaxHeaderBytes 1024 and MaxInFlight 1.
var hostErrors = []struct {
	name   string
	method string
	path   string
	body   string
	header http.Header
	busy   bool // send while another request holds the only slot
	status int
	detail string
	retry  string
}{
	{name: "413", method: "POST", path: "/speech", body: strings.Repeat("a", 17),
		status: 413, detail: "Request body too large"},
	{name: "431", method: "GET", path: "/speech", header: http.Header{"X-Big": {strings.Repeat("b", 1500)}},
		status: 431, detail: "Request Header Fields Too Large"},
	{name: "503_busy", method: "GET", path: "/speech", busy: true,
		status: 503, detail: "server busy", retry: "1"},
	{name: "504", method: "GET", path: "/timeout", status: 504, detail: "Gateway Timeout"},
	{name: "500", method: "GET", path: "/trap", status: 500, detail: "Internal Server Error"},
	{name: "404_internal", method: "GET", path: "/.edgetoken/refresh/speech",
		status: 404, detail: "Not Found"},
}

func TestHostErrorsCarryCORS(t *testing.T) {
	const app, other = "https://app.example", "https://other.example"
	wildcard := &config.Settings{AllowAllOrigins: true}
	list := &config.Settings{AllowedOrigins: []string{app}}

	for _, cc := range []struct {
		name        string
		settings    *config.Settings
		credentials bool
		origin      string
		cookie      bool
		want        string
	}{
		{"wildcard", wildcard, false, app, false, "Access-Control-Allow-Origin: *"},
		{"wildcard_no_origin", wildcard, false, "", false, ""},
		{"wildcard_cookie", wildcard, false, app, true,
			"Access-Control-Allow-Origin: " + app + "; Vary: Origin"},
		{"list_listed", list, false, app, false,
			"Access-Control-Allow-Origin: " + app + "; Vary: Origin"},
		{"list_unlisted", list, false, other, false, "Vary: Origin"},
		{"list_no_origin", list, false, "", false, "Vary: Origin"},
		{"list_credentials", list, true, app, true,
			"Access-Control-Allow-Credentials: true; Access-Control-Allow-Origin: " + app + "; Vary: Origin"},
		{"list_credentials_unlisted", list, true, other, true, "Vary: Origin"},
		{"no_settings", nil, false, app, false, ""},
	} {
		t.Run(cc.name, func(t *testing.T) {
			g := &errorGuest{entered: make(chan struct{}, 1), release: make(chan struct{})}
			url, _ := startServer(t, server.Config{
				Handler:         g.handle,
				MaxBodyBytes:    16,
				MaxHeaderBytes:  1024,
				MaxInFlight:     1,
				CORS:            cc.settings,
				CORSCredentials: cc.credentials,
			})

			for _, tc := range hostErrors {
				header := http.Header{}
				for k, v := range tc.header {
					header[k] = v
				}
				if cc.origin != "" {
					header.Set("Origin", cc.origin)
				}
				if cc.cookie {
					header.Set("Cookie", "edgetoken=x")
				}

				held := make(chan struct{})
				if tc.busy {
					go func() {
						defer close(held)
						do(t, "GET", url+"/hold", nil, nil)
					}()
					<-g.entered
				}
				resp, body := do(t, tc.method, url+tc.path, strings.NewReader(tc.body), header)
				if tc.busy {
					g.release <- struct{}{}
					<-held
				}

				want := `{"detail":"` + tc.detail + `"}`
				if resp.StatusCode != tc.status || body != want {
					t.Errorf("%s: got %d %q, want %d %q", tc.name, resp.StatusCode, body, tc.status, want)
				}
				if got := corsHeaders(resp.Header); got != cc.want {
					t.Errorf("%s: CORS fields %q, want %q", tc.name, got, cc.want)
				}
				for name, want := range map[string]string{
					"Content-Type":   "application/json",
					"Cache-Control":  "no-store",
					"Content-Length": fmt.Sprint(len(want)),
					"Retry-After":    tc.retry,
				} {
					if got := resp.Header.Get(name); got != want {
						t.Errorf("%s: %s = %q, want %q", tc.name, name, got, want)
					}
				}
			}
		})
	}
}

// TestHeaderTooLargeBeyondSlack shows the one 431 without CORS fields: past
// twice MaxHeaderBytes plus net/http's 4 KiB of slack, net/http stops
// reading before the handler runs and answers in plain text.
func TestHeaderTooLargeBeyondSlack(t *testing.T) {
	g := &recorder{}
	url, _ := startServer(t, server.Config{Handler: g.handle, MaxHeaderBytes: 1024,
		CORS: &config.Settings{AllowAllOrigins: true}})

	resp, body := do(t, "GET", url+"/speech", nil, http.Header{
		"Origin": {"https://app.example"},
		"X-Big":  {strings.Repeat("a", 2*1024+4096)},
	})
	if resp.StatusCode != 431 || strings.HasPrefix(body, "{") {
		t.Errorf("got %d %q, want 431 with net/http's plain-text body", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("Access-Control-Allow-Origin = %q, want none from net/http", got)
	}
	if g.count() != 0 {
		t.Errorf("guest calls = %d, want 0", g.count())
	}
}

// TestHeaderLimitExact shows where the server's own check falls: headers
// that fit in MaxHeaderBytes reach the guest, one byte more gets 431.
func TestHeaderLimitExact(t *testing.T) {
	g := &recorder{}
	url, _ := startServer(t, server.Config{Handler: g.handle, MaxHeaderBytes: 1024})
	addr := strings.TrimPrefix(url, "http://")

	send := func(pad int) string {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// Request line 22 bytes, Host 9, Connection 19, X-Pad 9 plus the
		// padding, and the blank line 2: 61 bytes besides the padding.
		fmt.Fprintf(conn, "GET /speech HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: %s\r\n\r\n",
			strings.Repeat("p", pad))
		raw, _ := io.ReadAll(conn)
		status, _, _ := strings.Cut(string(raw), "\r\n")
		return status
	}
	if got := send(1024 - 61); got != "HTTP/1.1 200 OK" {
		t.Errorf("headers of 1024 bytes: %q, want 200", got)
	}
	if got := send(1024 - 61 + 1); got != "HTTP/1.1 431 Request Header Fields Too Large" {
		t.Errorf("headers of 1025 bytes: %q, want 431", got)
	}
	if g.count() != 1 {
		t.Errorf("guest calls = %d, want 1", g.count())
	}
}

// TestMalformedRequestPlainText shows the other answers without CORS fields:
// net/http rejects a request it cannot parse with its own plain-text 400
// before the handler runs, so neither the server nor the guest sees it.
func TestMalformedRequestPlainText(t *testing.T) {
	g := &recorder{}
	url, _ := startServer(t, server.Config{Handler: g.handle,
		CORS: &config.Settings{AllowAllOrigins: true}})
	addr := strings.TrimPrefix(url, "http://")

	for name, head := range map[string]string{
		"no_host":            "GET /speech HTTP/1.1\r\nOrigin: https://app.example\r\n",
		"header_no_colon":    "GET /speech HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\nbroken header\r\n",
		"bad_content_length": "POST /api HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\nContent-Length: ten\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, head+"\r\n")
			raw, _ := io.ReadAll(conn)
			resp := string(raw)

			status, _, _ := strings.Cut(resp, "\r\n")
			// net/http may add the reason to the status line.
			if !strings.HasPrefix(status, "HTTP/1.1 400 Bad Request") {
				t.Errorf("status line %q, want net/http's 400", status)
			}
			if !strings.Contains(resp, "\r\nContent-Type: text/plain; charset=utf-8\r\n") {
				t.Errorf("response %q is not plain text", resp)
			}
			if strings.Contains(resp, "Access-Control-") || strings.Contains(resp, `{"detail"`) {
				t.Errorf("response %q has the server's own shape, want net/http's", resp)
			}
		})
	}
	if g.count() != 0 {
		t.Errorf("guest calls = %d, want 0", g.count())
	}
}
