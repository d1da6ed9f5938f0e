package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/edgetoken/edgetoken/host/internal/refresher"
	"github.com/edgetoken/edgetoken/host/internal/server"
	"github.com/edgetoken/edgetoken/host/internal/wasihost"
)

// guestRefresh returns the refresher's call: the internal request
// POST /.edgetoken/refresh/<name> with the refresh key, sent straight to the
// guest, past the front end that blocks that route for outside clients.
//
// The first successful run for each token adds ?warm=1, so the guest keeps
// a token that a client's request fetched while the host was starting
// instead of fetching a second one.
func guestRefresh(do server.Handler, key string) func(context.Context, string) (refresher.Result, error) {
	var warmed sync.Map // token name -> true after its first successful run
	return func(ctx context.Context, name string) (refresher.Result, error) {
		path := server.InternalPrefix + "/refresh/" + name
		if _, ok := warmed.Load(name); !ok {
			path += "?warm=1"
		}
		resp, err := do(ctx, &wasihost.Request{
			Method:        http.MethodPost,
			Scheme:        "http",
			Authority:     "localhost",
			PathWithQuery: path,
			Header:        http.Header{server.RefreshKeyHeader: {key}},
		})
		if err != nil {
			return refresher.Result{}, fmt.Errorf("refresh %s: %w", name, err)
		}

		if resp.Status != http.StatusOK {
			// Error bodies are {"detail":"<safe message>"}, with no token.
			var e struct {
				Detail string `json:"detail"`
			}
			_ = json.Unmarshal(resp.Body, &e)
			err := fmt.Errorf("refresh %s: guest returned status %d: %q", name, resp.Status, e.Detail)
			// The guest sends Retry-After with the wait its backoff or the
			// authority set; retrying earlier would not reach the authority.
			if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs > 0 {
				return refresher.Result{}, &refresher.RetryAfterError{Err: err, After: time.Duration(secs) * time.Second}
			}
			return refresher.Result{}, err
		}
		var r struct {
			ExpiresOn int64 `json:"expires_on"`
			RefreshOn int64 `json:"refresh_on"`
		}
		if err := json.Unmarshal(resp.Body, &r); err != nil || r.ExpiresOn == 0 {
			return refresher.Result{}, fmt.Errorf("refresh %s: invalid guest response (%d bytes)",
				name, len(resp.Body))
		}
		warmed.Store(name, true)
		res := refresher.Result{ExpiresOn: time.Unix(r.ExpiresOn, 0)}
		if r.RefreshOn != 0 {
			res.RefreshOn = time.Unix(r.RefreshOn, 0)
		}
		return res, nil
	}
}
