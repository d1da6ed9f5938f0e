package wasihost

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/tetratelabs/wazero/api"
)

// Cases of wasi:http/types.error-code used by this host.
const (
	codeDNSTimeout            = 0
	codeDNSError              = 1
	codeDestinationUnavailble = 3
	codeIPUnroutable          = 5
	codeConnectionRefused     = 6
	codeConnectionTerminated  = 7
	codeConnectionTimeout     = 8
	codeTLSProtocolError      = 12
	codeTLSCertificateError   = 13
	codeRequestDenied         = 15
	codeRequestURIInvalid     = 19
	codeResponseBodySize      = 28
	codeResponseTimeout       = 33
	codeInternalError         = 38
)

var codeNames = map[uint8]string{
	0: "DNS-timeout", 1: "DNS-error", 2: "destination-not-found", 3: "destination-unavailable",
	4: "destination-IP-prohibited", 5: "destination-IP-unroutable", 6: "connection-refused",
	7: "connection-terminated", 8: "connection-timeout", 9: "connection-read-timeout",
	10: "connection-write-timeout", 11: "connection-limit-reached", 12: "TLS-protocol-error",
	13: "TLS-certificate-error", 14: "TLS-alert-received", 15: "HTTP-request-denied",
	16: "HTTP-request-length-required", 17: "HTTP-request-body-size",
	18: "HTTP-request-method-invalid", 19: "HTTP-request-URI-invalid",
	20: "HTTP-request-URI-too-long", 21: "HTTP-request-header-section-size",
	22: "HTTP-request-header-size", 23: "HTTP-request-trailer-section-size",
	24: "HTTP-request-trailer-size", 25: "HTTP-response-incomplete",
	26: "HTTP-response-header-section-size", 27: "HTTP-response-header-size",
	28: "HTTP-response-body-size", 29: "HTTP-response-trailer-section-size",
	30: "HTTP-response-trailer-size", 31: "HTTP-response-transfer-coding",
	32: "HTTP-response-content-coding", 33: "HTTP-response-timeout", 34: "HTTP-upgrade-failed",
	35: "HTTP-protocol-error", 36: "loop-detected", 37: "configuration-error", 38: "internal-error",
}

// errorCode is a wasi:http error-code. Only the payloads this host sends
// are modelled: the message of DNS-error (as rcode) and of internal-error.
type errorCode struct {
	tag     uint8
	message string
	hasMsg  bool
}

func (e *errorCode) String() string {
	name, ok := codeNames[e.tag]
	if !ok {
		name = "unknown"
	}
	if e.hasMsg {
		return name + " (" + e.message + ")"
	}
	return name
}

func (e *errorCode) Error() string { return "wasi-http error-code " + e.String() }

// errorCodeOf maps a transport error to the closest error-code.
func errorCodeOf(err error) *errorCode {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.Is(err, ErrRequestDenied):
		return &errorCode{tag: codeRequestDenied}
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return &errorCode{tag: codeDNSTimeout}
		}
		return &errorCode{tag: codeDNSError, message: dnsErr.Err, hasMsg: true}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &errorCode{tag: codeConnectionRefused}
	case errors.Is(err, syscall.EHOSTUNREACH):
		return &errorCode{tag: codeDestinationUnavailble}
	case errors.Is(err, syscall.ENETUNREACH):
		return &errorCode{tag: codeIPUnroutable}
	case errors.As(err, &certErr), errors.As(err, &unknownAuthority), errors.As(err, &hostnameErr):
		return &errorCode{tag: codeTLSCertificateError}
	case errors.As(err, &recordErr):
		return &errorCode{tag: codeTLSProtocolError}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &errorCode{tag: codeConnectionTerminated}
	case errors.As(err, &netErr) && netErr.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return &errorCode{tag: codeConnectionTimeout}
	}
	return &errorCode{tag: codeInternalError, message: err.Error(), hasMsg: true}
}

// putErrorCode writes e at ptr (align 8, size 32: the case at 0, the
// payload at 8).
func putErrorCode(ctx context.Context, m api.Module, ptr uint32, e *errorCode) {
	var addr uint32
	if e.hasMsg {
		addr = lower(ctx, m, []byte(e.message))
	}
	put(m, ptr, make([]byte, 32))
	put8(m, ptr, e.tag)
	switch {
	case !e.hasMsg:
	case e.tag == codeDNSError:
		// DNS-error-payload: rcode option<string> at 0, info-code
		// option<u16> at 12 (left none).
		put8(m, ptr+8, 1)
		put32(m, ptr+12, addr)
		put32(m, ptr+16, uint32(len(e.message)))
	case e.tag == codeInternalError:
		put8(m, ptr+8, 1)
		put32(m, ptr+12, addr)
		put32(m, ptr+16, uint32(len(e.message)))
	}
}

// errorCodeFromFlat reads an error-code the guest passed as flat values:
// the case, then the joined payload [i32, i64, i32, i32, i32, i32].
func errorCodeFromFlat(m api.Module, flat []uint64) *errorCode {
	e := &errorCode{tag: uint8(flat[0])}
	if e.tag == codeInternalError && uint32(flat[1]) == 1 {
		e.message = readString(m, uint32(flat[2]), uint32(flat[3]))
		e.hasMsg = true
	}
	return e
}
