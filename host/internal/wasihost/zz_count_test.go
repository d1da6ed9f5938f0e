package wasihost_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"sync/atomic"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/edgetoken/edgetoken/host/internal/pool"
	"github.com/edgetoken/edgetoken/host/internal/wasihost"
	"github.com/edgetoken/edgetoken/internal/authority"
	"github.com/edgetoken/edgetoken/internal/token"
)

type counter struct{ n atomic.Int64 }

func (c *counter) Before(context.Context, api.Module, api.FunctionDefinition, []uint64, experimental.StackIterator) {
	c.n.Add(1)
}
func (c *counter) After(context.Context, api.Module, api.FunctionDefinition, []uint64) {}
func (c *counter) Abort(context.Context, api.Module, api.FunctionDefinition, error)    {}

type factory struct{ m map[string]*counter }

func (f *factory) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	name := def.ModuleName() + "." + def.DebugName()
	c := &counter{}
	f.m[name] = c
	return c
}

func TestZZCount(t *testing.T) {
	wasm, _ := os.ReadFile("/tmp/eb/guest-names.wasm")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, _ := authority.New(authority.Options{ClientID: benchClientID, ClientSecret: "secret"})
	srv, _ := authority.Serve(a, authority.ServeOptions{Logger: quiet})
	defer srv.Close()
	config := map[string]string{
		"speech_resource_id":   "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/a",
		"azure_tenant_id":      "00000000-0000-4000-8000-00000000b7e1", "api_app_id": "00000000-0000-0000-0000-0000000000a1",
		"azure_client_id":      benchClientID,
		"azure_client_secret":  "secret",
		"azure_authority_host": srv.URL,
	}
	f := &factory{m: map[string]*counter{}}
	ctx := experimental.WithFunctionListenerFactory(context.Background(), f)
	p, err := pool.New(ctx, pool.Config{Wasm: wasm, Size: 1, Logger: quiet,
		Register: func(ctx context.Context, r wazero.Runtime) error {
			return wasihost.Register(ctx, r, wasihost.Options{Store: token.NewMemoryStore(),
				Config:     func(k string) (string, bool) { v, ok := config[k]; return v, ok },
				ConfigKeys: func() []string { return nil }})
		}})
	if err != nil {
		t.Fatal(err)
	}
	req := &wasihost.Request{Method: "GET", Authority: "x", PathWithQuery: "/speech", Header: http.Header{"Accept": {"*/*"}}}
	for range 3 {
		p.Do(context.Background(), req)
	}
	for _, c := range f.m {
		c.n.Store(0)
	}
	const N = 20
	for range N {
		p.Do(context.Background(), req)
	}
	type kv struct {
		k string
		n int64
	}
	var all []kv
	var total int64
	for k, c := range f.m {
		if n := c.n.Load(); n > 0 {
			all = append(all, kv{k, n})
			total += n
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n })
	fmt.Printf("total calls/req %d\n", total/N)
	for i, e := range all {
		if i > 400 {
			break
		}
		fmt.Printf("%8.1f %s\n", float64(e.n)/N, e.k)
	}
}
