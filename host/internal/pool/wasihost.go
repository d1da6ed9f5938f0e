package pool

import (
	"context"

	"github.com/tetratelabs/wazero/api"

	"github.com/edgetoken/edgetoken/host/internal/wasihost"
)

// Do runs req through the guest's wasi:http incoming handler on an instance
// from the pool. Run describes the time limit and what happens on an error.
func (p *Pool) Do(ctx context.Context, req *wasihost.Request) (*wasihost.Response, error) {
	var resp *wasihost.Response
	err := p.Run(ctx, func(ctx context.Context, m api.Module) error {
		var err error
		resp, err = wasihost.Handle(ctx, m, req)
		return err
	})
	return resp, err
}
