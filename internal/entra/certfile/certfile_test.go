package certfile_test

import (
	"crypto/rsa"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgetoken/edgetoken/internal/entra/certfile"
)

// The fixtures are shared with test/credentials: one RSA key and its
// self-signed certificate as PEM, as PKCS#12 with 3DES (readable) and as
// PKCS#12 with OpenSSL 3's default AES-256 (not readable).
const (
	testdata    = "../../../test/credentials/testdata"
	p12Password = "p12-test-password"
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestToPEMPassesPEMThrough(t *testing.T) {
	data := read(t, "client.pem")
	got, err := certfile.ToPEM(data, "ignored")
	if err != nil {
		t.Fatalf("ToPEM: %v", err)
	}
	if string(got) != string(data) {
		t.Error("ToPEM changed PEM data")
	}
}

func TestToPEMDecodesPKCS12(t *testing.T) {
	got, err := certfile.ToPEM(read(t, "client.p12"), p12Password)
	if err != nil {
		t.Fatalf("ToPEM: %v", err)
	}
	var types []string
	for rest := got; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		types = append(types, b.Type)
		if len(b.Headers) != 0 {
			t.Errorf("block %s has headers %v, want none", b.Type, b.Headers)
		}
	}
	if strings.Join(types, ",") != "CERTIFICATE,PRIVATE KEY" && strings.Join(types, ",") != "PRIVATE KEY,CERTIFICATE" {
		t.Errorf("block types = %v, want one CERTIFICATE and one PRIVATE KEY", types)
	}
	// The pair must match the PEM fixture's certificate and key.
	pair, err := tls.X509KeyPair(got, got)
	if err != nil {
		t.Fatalf("decoded PEM is not a key pair: %v", err)
	}
	want, err := tls.X509KeyPair(read(t, "client.pem"), read(t, "client.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if string(pair.Certificate[0]) != string(want.Certificate[0]) {
		t.Error("decoded certificate differs from the PEM fixture's")
	}
	if !pair.PrivateKey.(*rsa.PrivateKey).Equal(want.PrivateKey) {
		t.Error("decoded key differs from the PEM fixture's")
	}
}

func TestToPEMWrongPassword(t *testing.T) {
	const wrong = "wrong-password-Zx9"
	_, err := certfile.ToPEM(read(t, "client.p12"), wrong)
	if !errors.Is(err, certfile.ErrIncorrectPassword) {
		t.Fatalf("error = %v, want ErrIncorrectPassword", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("error %q contains the password", err)
	}
}

func TestToPEMUnsupportedEncryption(t *testing.T) {
	_, err := certfile.ToPEM(read(t, "client-aes.p12"), p12Password)
	if err == nil {
		t.Fatal("ToPEM decoded an AES-256 PKCS#12 file, want an error")
	}
	if !strings.Contains(err.Error(), "openssl pkcs12 -in FILE -nodes") {
		t.Errorf("error %q does not say how to convert the file", err)
	}
	if strings.Contains(err.Error(), p12Password) {
		t.Errorf("error %q contains the password", err)
	}
}

func TestToPEMUnknownFormat(t *testing.T) {
	for name, data := range map[string][]byte{
		"text":  []byte("this is not a certificate\n"),
		"empty": {},
		// A DER certificate without its key: ASN.1, but not PKCS#12.
		"der": func() []byte { b, _ := pem.Decode(read(t, "client.pem")); return b.Bytes }(),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := certfile.ToPEM(data, p12Password)
			if !errors.Is(err, certfile.ErrUnknownFormat) {
				t.Fatalf("error = %v, want ErrUnknownFormat", err)
			}
			const want = "the file is neither a PEM certificate with its private key nor a PKCS#12 file"
			if err.Error() != want {
				t.Errorf("error = %q, want %q", err, want)
			}
			// The decoder's error stays reachable for errors.Is and As.
			multi, ok := err.(interface{ Unwrap() []error })
			if !ok || len(multi.Unwrap()) != 2 || !strings.HasPrefix(multi.Unwrap()[1].Error(), "pkcs12: ") {
				t.Errorf("error %#v does not wrap the decoder's error", err)
			}
		})
	}
}
