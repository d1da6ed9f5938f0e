package main

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	"github.com/edgetoken/edgetoken/host/internal/wasihost"
)

func TestGuestRefreshWarmsFirst(t *testing.T) {
	var paths []string
	status := http.StatusServiceUnavailable
	do := func(ctx context.Context, req *wasihost.Request) (*wasihost.Response, error) {
		paths = append(paths, req.PathWithQuery)
		return &wasihost.Response{Status: status, Header: http.Header{},
			Body: []byte(`{"expires_on":1700003600,"refresh_on":1700001800}`)}, nil
	}
	refresh := guestRefresh(do, "key")

	// A failed first run is retried as a warm-up too.
	if _, err := refresh(context.Background(), "speech"); err == nil {
		t.Fatal("refresh with status 503 succeeded")
	}
	status = http.StatusOK
	for range 2 {
		if _, err := refresh(context.Background(), "speech"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := refresh(context.Background(), "api"); err != nil {
		t.Fatal(err)
	}

	want := []string{
		"/.edgetoken/refresh/speech?warm=1",
		"/.edgetoken/refresh/speech?warm=1",
		"/.edgetoken/refresh/speech",
		"/.edgetoken/refresh/api?warm=1",
	}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("paths = %q, want %q", paths, want)
	}
}
