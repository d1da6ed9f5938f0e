package wasihost_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"syscall"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/edgetoken/edgetoken/host/internal/pool"
	"github.com/edgetoken/edgetoken/host/internal/wasihost"
	"github.com/edgetoken/edgetoken/internal/authority"
	"github.com/edgetoken/edgetoken/internal/token"
)

// BenchmarkGuest calls the token service guest directly through pool.Do,
// without net/http in front, so that a CPU profile of it shows the guest's
// own cost per request, with and without wazero's termination checks
// (pool.Config.TrustGuestLoops). It needs the built guest:
//
//	EDGETOKEN_TEST_GUEST=$PWD/build/guest.wasm go test -run '^$' -bench Guest ./host/internal/wasihost/
func BenchmarkGuest(b *testing.B) {
	for _, path := range []string{"/speech", "/api"} {
		for _, trusted := range []bool{false, true} {
			name := path[1:] + "/termination-checks"
			if trusted {
				name = path[1:] + "/trusted-loops"
			}
			b.Run(name, func(b *testing.B) { benchmarkGuest(b, path, trusted) })
		}
	}
}

func benchmarkGuest(b *testing.B, path string, trustLoops bool) {
	guestPath := os.Getenv("EDGETOKEN_TEST_GUEST")
	if guestPath == "" {
		b.Skip("EDGETOKEN_TEST_GUEST is not set")
	}
	wasm, err := os.ReadFile(guestPath)
	if err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := authority.New(authority.Options{ClientID: benchClientID, ClientSecret: "secret"})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := authority.Serve(a, authority.ServeOptions{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()

	config := map[string]string{
		"speech_resource_id":   "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/a",
		"api_app_id":           "00000000-0000-0000-0000-0000000000a1",
		"azure_tenant_id":      "00000000-0000-4000-8000-00000000b7e1",
		"azure_client_id":      benchClientID,
		"azure_client_secret":  "secret",
		"azure_authority_host": srv.URL,
	}
	ctx := context.Background()
	p, err := pool.New(ctx, pool.Config{
		Wasm:            wasm,
		Size:            1,
		TrustGuestLoops: trustLoops,
		Logger:          quiet,
		Register: func(ctx context.Context, r wazero.Runtime) error {
			return wasihost.Register(ctx, r, wasihost.Options{
				Store: token.NewMemoryStore(),
				Config: func(key string) (string, bool) {
					v, ok := config[key]
					return v, ok
				},
				ConfigKeys: func() []string { return nil },
			})
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(ctx)

	req := &wasihost.Request{
		Method:        http.MethodGet,
		Authority:     "127.0.0.1",
		PathWithQuery: path,
		Header:        http.Header{"User-Agent": {"bench"}, "Accept": {"*/*"}},
	}
	// The first call fetches the token; the timed calls read it from the store.
	if resp, err := p.Do(ctx, req); err != nil || resp.Status != http.StatusOK {
		b.Fatalf("first call: status %v, error %v", resp, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	// CPU time (user and system, every thread of the process) per call
	// varies less than wall time on a machine shared with other work.
	cpuBefore := processCPU()
	for b.Loop() {
		resp, err := p.Do(ctx, req)
		if err != nil || resp.Status != http.StatusOK {
			b.Fatalf("call: %v", err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpuBefore)/float64(b.N), "cpu-ns/op")
}

// processCPU returns the CPU time the process has used, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

const benchClientID = "00000000-0000-4000-8000-00000000b7ca"
