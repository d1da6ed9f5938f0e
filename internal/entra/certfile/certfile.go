// Package certfile turns the content of a client certificate file, PEM or
// PKCS#12, into the PEM text that entra.Options.ClientCertificate takes.
// The host uses it to read AZURE_CLIENT_CERTIFICATE_PATH, so that the guest
// only ever parses PEM; a Go program that calls entra.New can use it too.
// It is a separate package so that the guest does not link the PKCS#12
// decoder.
package certfile

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"golang.org/x/crypto/pkcs12"
)

// ErrIncorrectPassword is wrapped by the error of ToPEM when the PKCS#12
// password is wrong. golang.org/x/crypto/pkcs12 returns it also for data
// that is not PKCS#12 at all, so the message names both causes.
var ErrIncorrectPassword = errors.New("the password is wrong, or the file is neither PKCS#12 nor PEM")

// ToPEM returns data as PEM text: CERTIFICATE blocks and one unencrypted
// private key. Data that already holds PEM blocks is returned unchanged and
// password is not used. Anything else is decoded as PKCS#12 with password,
// and its key is written as PKCS#8 ("PRIVATE KEY"). No error contains the
// password.
//
// Only the legacy PKCS#12 encryption is supported (3DES or RC2 with a SHA-1
// MAC), because golang.org/x/crypto/pkcs12 reads nothing else; azidentity
// uses the same decoder. OpenSSL 3 and recent Windows versions export
// AES-256 by default, and the error for such a file explains how to convert it.
func ToPEM(data []byte, password string) ([]byte, error) {
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		return data, nil
	}

	blocks, err := pkcs12.ToPEM(data, password)
	if err != nil {
		return nil, decodeError(err)
	}
	var out bytes.Buffer
	keys := 0
	for _, b := range blocks {
		switch b.Type {
		case "CERTIFICATE":
			// ToPEM copies the bag attributes (friendlyName, localKeyId)
			// into headers, which a PEM parser does not need.
			pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: b.Bytes})
		case "PRIVATE KEY":
			der, err := pkcs8Key(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("decode PKCS#12 private key: %w", err)
			}
			pem.Encode(&out, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
			keys++
		}
	}
	if keys != 1 {
		return nil, fmt.Errorf("decode PKCS#12: the file holds %d private keys, want 1", keys)
	}
	return out.Bytes(), nil
}

// pkcs8Key re-encodes a key from pkcs12.ToPEM as PKCS#8. ToPEM labels every
// key "PRIVATE KEY" but writes RSA keys as PKCS#1 and EC keys as SEC 1.
func pkcs8Key(der []byte) ([]byte, error) {
	var key any
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		key = k
	} else if k, err := x509.ParseECPrivateKey(der); err == nil {
		key = k
	} else if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		key = k
	} else {
		return nil, errors.New("the key is neither PKCS#1, SEC 1 nor PKCS#8")
	}
	return x509.MarshalPKCS8PrivateKey(key)
}

func decodeError(err error) error {
	var unsupported pkcs12.NotImplementedError
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword):
		return fmt.Errorf("decode PKCS#12: %w", ErrIncorrectPassword)
	case errors.As(err, &unsupported):
		return fmt.Errorf("decode PKCS#12: %v; convert the file to PEM "+
			"(openssl pkcs12 -in FILE -nodes -out client.pem), or export it again with "+
			"-keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1", err)
	}
	return &formatError{cause: err}
}

// ErrUnknownFormat is wrapped by the error of ToPEM when the data is neither
// PEM nor PKCS#12.
var ErrUnknownFormat = errors.New("the file is neither a PEM certificate with its private key nor a PKCS#12 file")

// formatError reports data that is neither PEM nor PKCS#12. Its message
// leaves out the decoder's own error, an ASN.1 parse failure that does not
// show what to fix, but errors.Is and errors.As still reach that error.
type formatError struct{ cause error }

func (e *formatError) Error() string   { return ErrUnknownFormat.Error() }
func (e *formatError) Unwrap() []error { return []error{ErrUnknownFormat, e.cause} }
