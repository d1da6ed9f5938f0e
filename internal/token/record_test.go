package token

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestEncodeRecord(t *testing.T) {
	b, err := EncodeRecord(Record{AccessToken: "eyJ.a-b_c", ExpiresOn: 1700003600, RefreshOn: 1700001800})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"access_token":"eyJ.a-b_c","expires_on":1700003600,"refresh_on":1700001800}`
	if string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

func TestDecodeRecord(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Record
	}{
		{"fast", `{"access_token":"abc","expires_on":10,"refresh_on":5}`, Record{"abc", 10, 5}},
		{"negative", `{"access_token":"abc","expires_on":-10,"refresh_on":0}`, Record{"abc", -10, 0}},
		{"spaces", `{ "access_token": "abc", "expires_on": 10, "refresh_on": 5 }`, Record{"abc", 10, 5}},
		{"other_order", `{"refresh_on":5,"expires_on":10,"access_token":"abc"}`, Record{"abc", 10, 5}},
		{"escaped", `{"access_token":"a\u003cb\"","expires_on":10,"refresh_on":5}`, Record{"a<b\"", 10, 5}},
		{"extra_field", `{"access_token":"abc","expires_on":10,"refresh_on":5,"x":1}`, Record{"abc", 10, 5}},
		{"no_refresh_on", `{"access_token":"abc","expires_on":10}`, Record{"abc", 10, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRecord([]byte(tc.in))
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{``, `{}`, `{"access_token":"","expires_on":1,"refresh_on":1}`, `[1]`,
		`{"access_token":"a","expires_on":01,"refresh_on":1}`, `{"access_token":"a","expires_on":"1","refresh_on":1}`} {
		if r, err := DecodeRecord([]byte(bad)); err == nil {
			t.Errorf("DecodeRecord(%q) = %+v, want an error", bad, r)
		}
	}
}

func TestDecodeRecordFastPathAllocations(t *testing.T) {
	b := []byte(`{"access_token":"eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln","expires_on":1700003600,"refresh_on":1700001800}`)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := DecodeRecord(b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("got %v allocations, want at most 1", allocs)
	}
}

// FuzzDecodeRecord checks that the fast path agrees with encoding/json.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"access_token":"abc","expires_on":10,"refresh_on":5}`))
	f.Add([]byte(`{"access_token":"a<b","expires_on":10,"refresh_on":5}`))
	f.Add([]byte(`{"access_token":"abc","expires_on":-0,"refresh_on":5}`))
	f.Add([]byte(`{"access_token":"abc","expires_on":99999999999999999999,"refresh_on":5}`))
	f.Add([]byte(`{"access_token":"abc","expires_on":10,"refresh_on":5}x`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := decodeRecordFast(b)
		if !ok {
			return
		}
		var want Record
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json rejects it: %v", b, err)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("fast %+v, encoding/json %+v for %q", fast, want, b)
		}
	})
}
