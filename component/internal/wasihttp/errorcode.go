//go:build wasip1

package wasihttp

import (
	"fmt"

	"github.com/edgetoken/edgetoken/component/internal/cabi"
)

// errorCodes names the cases of wasi:http/types.error-code by discriminant.
var errorCodes = [...]string{
	"DNS-timeout", "DNS-error", "destination-not-found", "destination-unavailable",
	"destination-IP-prohibited", "destination-IP-unroutable", "connection-refused",
	"connection-terminated", "connection-timeout", "connection-read-timeout",
	"connection-write-timeout", "connection-limit-reached", "TLS-protocol-error",
	"TLS-certificate-error", "TLS-alert-received", "HTTP-request-denied",
	"HTTP-request-length-required", "HTTP-request-body-size", "HTTP-request-method-invalid",
	"HTTP-request-URI-invalid", "HTTP-request-URI-too-long", "HTTP-request-header-section-size",
	"HTTP-request-header-size", "HTTP-request-trailer-section-size", "HTTP-request-trailer-size",
	"HTTP-response-incomplete", "HTTP-response-header-section-size", "HTTP-response-header-size",
	"HTTP-response-body-size", "HTTP-response-trailer-section-size", "HTTP-response-trailer-size",
	"HTTP-response-transfer-coding", "HTTP-response-content-coding", "HTTP-response-timeout",
	"HTTP-upgrade-failed", "HTTP-protocol-error", "loop-detected", "configuration-error",
	"internal-error",
}

// internalError is the discriminant of error-code.internal-error.
const internalError = 38

// ErrorCode is a wasi:http error-code returned by the host for an outgoing
// request or a response body.
type ErrorCode struct {
	// Code is the case name from the WIT, such as "connection-refused".
	Code string
	// Detail is the message of internal-error, when the host sent one.
	Detail string
}

func (e *ErrorCode) Error() string {
	if e.Detail != "" {
		return "wasi-http error-code " + e.Code + ": " + e.Detail
	}
	return "wasi-http error-code " + e.Code
}

// decodeErrorCode reads the error-code at off (align 8, size 32). Only
// internal-error's message is kept from the payloads.
func decodeErrorCode(ret *cabi.Area, off int) *ErrorCode {
	tag := ret.U8(off)
	if int(tag) >= len(errorCodes) {
		return &ErrorCode{Code: fmt.Sprintf("unknown(%d)", tag)}
	}
	e := &ErrorCode{Code: errorCodes[tag]}
	if tag == internalError && ret.U8(off+8) == 1 {
		e.Detail = ret.String(off + 12)
	}
	return e
}
