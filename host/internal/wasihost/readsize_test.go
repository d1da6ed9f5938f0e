package wasihost

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestReadSize(t *testing.T) {
	cases := []struct {
		name string
		r    io.Reader
		n    uint64
		want int
	}{
		{"length known, request larger", bytes.NewReader(make([]byte, 10)), 1 << 20, 10},
		{"length known, request smaller", bytes.NewReader(make([]byte, 10)), 4, 4},
		{"drained reader still reads once", bytes.NewReader(nil), 1 << 20, 1},
		{"length unknown", io.MultiReader(strings.NewReader("x")), 1 << 20, maxReadChunk},
		{"length unknown, request smaller", io.MultiReader(strings.NewReader("x")), 100, 100},
	}
	for _, c := range cases {
		if got := readSize(c.r, c.n); got != c.want {
			t.Errorf("%s: readSize(n=%d) = %d, want %d", c.name, c.n, got, c.want)
		}
	}
}
