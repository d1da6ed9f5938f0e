//go:build wasip1

// Command testguest is a guest that exposes each binding through a route,
// so host tests can drive the canonical ABI from both sides:
//
//	/echo                     the method, query, x-test header and body
//	/fetch?url=U              GET U (POST with the request body) and the upstream answer
//	/kv/{get,set,incr,delete}?key=K[&value=V]
//	/config?key=K             the config store's value
//	/panic                    a handler panic
//
// Any other path gets 404.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/edgetoken/edgetoken/component/internal/wasiconfig"
	"github.com/edgetoken/edgetoken/component/internal/wasihttp"
	"github.com/edgetoken/edgetoken/component/internal/wasikv"
	"github.com/edgetoken/edgetoken/internal/service"
)

func main() {}

var store = wasikv.New("default")

var client = &http.Client{Transport: wasihttp.Transport{}}

func init() { wasihttp.Handle(serve) }

func reply(status int, body string) *service.Response {
	return &service.Response{
		Status: status,
		Header: []service.Field{{Name: "content-type", Value: "text/plain"}},
		Body:   []byte(body),
	}
}

func serve(ctx context.Context, req *service.Request) *service.Response {
	query, _ := url.ParseQuery(req.Query)
	key := query.Get("key")
	switch req.Path {
	case "/echo":
		resp := reply(200, string(req.Body))
		var test string
		for _, f := range req.Header {
			if f.Name == "x-test" {
				test = f.Value
			}
		}
		resp.Header = append(resp.Header,
			service.Field{Name: "x-method", Value: req.Method},
			service.Field{Name: "x-query", Value: req.Query},
			service.Field{Name: "x-test", Value: test},
			service.Field{Name: "x-multi", Value: "a"},
			service.Field{Name: "x-multi", Value: "b"})
		return resp
	case "/fetch":
		return fetch(ctx, req, query.Get("url"))
	case "/kv/get":
		value, ok, err := store.Get(key)
		if err != nil {
			return reply(500, err.Error())
		}
		if !ok {
			return reply(404, "absent")
		}
		return reply(200, string(value))
	case "/kv/set":
		if err := store.Set(key, []byte(query.Get("value"))); err != nil {
			return reply(500, err.Error())
		}
		return reply(204, "")
	case "/kv/incr":
		n, err := store.Increment(key, 1)
		if err != nil {
			return reply(500, err.Error())
		}
		return reply(200, strconv.FormatUint(n, 10))
	case "/kv/delete":
		if err := store.Delete(key); err != nil {
			return reply(500, err.Error())
		}
		return reply(204, "")
	case "/config":
		value, ok, err := wasiconfig.Get(key)
		if err != nil {
			return reply(500, err.Error())
		}
		if !ok {
			return reply(404, "unset")
		}
		return reply(200, value)
	case "/panic":
		panic("requested")
	}
	return reply(404, `{"detail":"Not Found"}`)
}

func fetch(ctx context.Context, req *service.Request, target string) *service.Response {
	method := http.MethodGet
	var body io.Reader
	if req.Method == http.MethodPost {
		method = http.MethodPost
		body = bytes.NewReader(req.Body)
	}
	out, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return reply(400, err.Error())
	}
	out.Header.Set("X-Upstream-Test", "yes")
	resp, err := client.Do(out)
	if err != nil {
		return reply(502, err.Error())
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply(502, "read upstream body: "+err.Error())
	}
	return reply(200, fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get("X-Reply"), data))
}
