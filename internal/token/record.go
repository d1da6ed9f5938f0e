package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Record converts t to its stored form. Times are truncated to seconds.
func (t Token) Record() Record {
	return Record{AccessToken: t.Value, ExpiresOn: t.ExpiresOn.Unix(), RefreshOn: t.RefreshOn.Unix()}
}

// Token converts the stored form back to a Token.
func (r Record) Token() Token {
	return Token{Value: r.AccessToken, ExpiresOn: time.Unix(r.ExpiresOn, 0), RefreshOn: time.Unix(r.RefreshOn, 0)}
}

// EncodeRecord returns the JSON stored under "token/<scope>".
func EncodeRecord(r Record) ([]byte, error) {
	return json.Marshal(r)
}

const (
	recordPrefix  = `{"access_token":"`
	recordExpires = `","expires_on":`
	recordRefresh = `,"refresh_on":`
)

// DecodeRecord parses a stored record. Records written by EncodeRecord take
// a fast path without reflection, because the guest reads one on every
// request; any other valid JSON form goes through encoding/json.
func DecodeRecord(b []byte) (Record, error) {
	if r, ok := decodeRecordFast(b); ok {
		return r, nil
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("decode token record: %w", err)
	}
	if r.AccessToken == "" {
		return Record{}, errors.New("decode token record: access_token is missing")
	}
	return r, nil
}

// decodeRecordFast parses exactly
// {"access_token":"<plain>","expires_on":<int>,"refresh_on":<int>}, where
// <plain> has no escapes or characters json.Marshal would escape.
func decodeRecordFast(b []byte) (Record, bool) {
	s := string(b) // the conversion shares no memory the caller can change later
	if len(s) < len(recordPrefix) || s[:len(recordPrefix)] != recordPrefix {
		return Record{}, false
	}
	s = s[len(recordPrefix):]
	end := 0
	for end < len(s) && s[end] != '"' {
		c := s[end]
		if c < 0x20 || c >= 0x7f || c == '\\' || c == '<' || c == '>' || c == '&' {
			return Record{}, false
		}
		end++
	}
	if end == 0 || end == len(s) {
		return Record{}, false
	}
	var r Record
	r.AccessToken = s[:end]
	s = s[end:]

	var ok bool
	if r.ExpiresOn, s, ok = fastField(s, recordExpires); !ok {
		return Record{}, false
	}
	if r.RefreshOn, s, ok = fastField(s, recordRefresh); !ok {
		return Record{}, false
	}
	return r, s == "}"
}

func fastField(s, key string) (int64, string, bool) {
	if len(s) < len(key) || s[:len(key)] != key {
		return 0, s, false
	}
	s = s[len(key):]
	n := 0
	for n < len(s) && (s[n] >= '0' && s[n] <= '9' || n == 0 && s[n] == '-') {
		n++
	}
	if n > 1 && s[0] == '0' || n > 2 && s[0] == '-' && s[1] == '0' {
		return 0, s, false // leading zeros are not JSON
	}
	v, err := strconv.ParseInt(s[:n], 10, 64)
	if err != nil {
		return 0, s, false
	}
	return v, s[n:], true
}
