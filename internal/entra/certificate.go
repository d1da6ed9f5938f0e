package entra

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Lifetime of a client assertion. Entra only needs it to outlive the
// request; the back-dated nbf absorbs a small clock skew.
const (
	assertionLifetime = 10 * time.Minute
	assertionSkew     = 1 * time.Minute
)

// certificate is a client certificate with its RSA private key. Entra
// accepts only RSA keys for client assertions.
type certificate struct {
	leaf *x509.Certificate
	key  *rsa.PrivateKey
	// x5tS256 and x5t are the base64url SHA-256 and SHA-1 thumbprints of
	// the DER certificate, which name the registered certificate to Entra.
	x5tS256 string
	x5t     string
}

// parseCertificate reads PEM data holding one or more CERTIFICATE blocks
// and one unencrypted private key, as a PKCS#8 "PRIVATE KEY" or a PKCS#1
// "RSA PRIVATE KEY" block. The certificate used is the one whose public key
// matches the private key, so the order of the blocks does not matter.
func parseCertificate(data []byte) (*certificate, error) {
	var certs []*x509.Certificate
	var key *rsa.PrivateKey
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse certificate: %w", err)
			}
			certs = append(certs, c)
		case "PRIVATE KEY", "RSA PRIVATE KEY":
			if key != nil {
				return nil, errors.New("parse certificate: more than one private key")
			}
			k, err := parseRSAKey(block)
			if err != nil {
				return nil, err
			}
			key = k
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("parse certificate: encrypted private keys are not supported, " +
				"decrypt the key first (openssl pkey -in key.pem -out plain.pem)")
		}
	}
	if len(certs) == 0 {
		return nil, errors.New("parse certificate: no CERTIFICATE block in the PEM data")
	}
	if key == nil {
		return nil, errors.New("parse certificate: no PRIVATE KEY or RSA PRIVATE KEY block in the PEM data")
	}

	for _, c := range certs {
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok || !pub.Equal(&key.PublicKey) {
			continue
		}
		s256 := sha256.Sum256(c.Raw)
		s1 := sha1.Sum(c.Raw)
		return &certificate{
			leaf:    c,
			key:     key,
			x5tS256: base64.RawURLEncoding.EncodeToString(s256[:]),
			x5t:     base64.RawURLEncoding.EncodeToString(s1[:]),
		}, nil
	}
	return nil, errors.New("parse certificate: no certificate matches the private key")
}

func parseRSAKey(block *pem.Block) (*rsa.PrivateKey, error) {
	if block.Type == "RSA PRIVATE KEY" {
		if _, encrypted := block.Headers["DEK-Info"]; encrypted {
			return nil, errors.New("parse certificate: encrypted private keys are not supported")
		}
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: parse PKCS#1 private key: %w", err)
		}
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: parse PKCS#8 private key: %w", err)
	}
	rsaKey, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("parse certificate: the private key is not an RSA key, and Entra ID accepts only RSA")
	}
	return rsaKey, nil
}

// assertion signs a client assertion (RS256) for clientID addressed to
// tokenURL, valid from a minute before now for ten minutes.
func (c *certificate) assertion(clientID, tokenURL string, now time.Time) (string, error) {
	id, err := newJTI()
	if err != nil {
		return "", err
	}
	claims := jwt.RegisteredClaims{
		Audience:  jwt.ClaimStrings{tokenURL},
		Issuer:    clientID,
		Subject:   clientID,
		ID:        id,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-assertionSkew)),
		ExpiresAt: jwt.NewNumericDate(now.Add(assertionLifetime)),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["x5t#S256"] = c.x5tS256
	t.Header["x5t"] = c.x5t
	signed, err := t.SignedString(c.key)
	if err != nil {
		return "", fmt.Errorf("sign client assertion: %w", err)
	}
	return signed, nil
}

// newJTI returns a random UUID (version 4) for the jti claim, which lets
// Entra reject a replayed assertion.
func newJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate jti: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
