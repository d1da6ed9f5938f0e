package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A body over the host's limit is refused by the host before the guest
// runs; the browser must still be able to read that error.
func TestHostErrorCarriesCORS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the guest; skipped with -short")
	}
	f := &flags{addr: "127.0.0.1:0", wasmPath: buildGuest(t), poolSize: 1, localAuthority: true,
		memoryMiB: 64, shutdownWait: 5 * time.Second}
	env := envOf(map[string]string{"SPEECH_RESOURCE_ID": testResourceID, "LOCAL_MODE": "true",
		"ALLOWED_ORIGINS": "https://app.example"})
	ctx, cancel := context.WithCancel(context.Background())
	p, err := start(ctx, f, env, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = p.close(5 * time.Second)
	})
	addr := p.addr

	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/speech",
		bytes.NewReader(make([]byte, 65<<10)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "https://app.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", resp.StatusCode)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("Access-Control-Allow-Origin = %q, want the listed origin", got)
	}
	if got := resp.Header.Get("Vary"); !strings.Contains(got, "Origin") {
		t.Errorf("Vary = %q, want Origin", got)
	}
	if !strings.HasPrefix(string(body), `{"detail":`) {
		t.Errorf("body = %s, want a JSON error", body)
	}
}
