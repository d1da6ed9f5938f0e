// Package service implements the HTTP behaviour of the token service
// (routes, CORS, response bodies and error shapes) over small runtime-neutral
// request and response types, so the wasm guest and the native baseline run
// the same code.
package service

// Field is one HTTP header field. Name is in lower case.
type Field struct {
	Name  string
	Value string
}

// Request is an incoming HTTP request as the runtime delivered it.
type Request struct {
	Method string
	Path   string // without the query
	Query  string // raw query, without "?"
	Header []Field
	Body   []byte
}

// Response is the complete answer to a Request.
type Response struct {
	Status int
	Header []Field
	Body   []byte
}
