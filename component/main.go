//go:build wasip1

// Command component is the token service guest: a wasip1 reactor that
// serves wasi:http/incoming-handler requests.
package main

import (
	"context"

	"github.com/edgetoken/edgetoken/component/internal/wasihttp"
	"github.com/edgetoken/edgetoken/internal/service"
)

func main() {}

func init() {
	wasihttp.Handle(func(ctx context.Context, req *service.Request) *service.Response {
		return &service.Response{
			Status: 404,
			Header: []service.Field{{Name: "content-type", Value: "application/json"}},
			Body:   []byte(`{"detail":"Not Found"}`),
		}
	})
}
