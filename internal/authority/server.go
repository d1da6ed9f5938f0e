package authority

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// ServeOptions configures Serve.
type ServeOptions struct {
	// Addr is the listen address. It must be a loopback address.
	// Defaults to "127.0.0.1:0" (a free port).
	Addr string
	// TLS serves https with a self-signed certificate made at start for
	// 127.0.0.1, ::1 and localhost. azidentity and MSAL require https.
	TLS bool
	// CertFile, when set with TLS, is where the certificate is written as
	// PEM, for clients that must trust it (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS).
	CertFile string
	// Logger receives the start line. Defaults to slog.Default().
	Logger *slog.Logger
}

// Server is an Authority listening on a loopback address.
type Server struct {
	// URL is the base URL ("https://127.0.0.1:41234"), which is the
	// authority host for clients.
	URL string
	// CertFile is the path of the PEM certificate, when one was written.
	CertFile string
	// RootCAs contains the certificate when TLS is on, and is nil otherwise.
	RootCAs *x509.CertPool

	srv *http.Server
}

// Serve starts serving a on a loopback address until Close.
func Serve(a *Authority, opts ServeOptions) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("authority: invalid listen address %q: %w", opts.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("authority: listen address %q is not a loopback address", opts.Addr)
	}

	s := &Server{srv: &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}}
	scheme := "http"
	if opts.TLS {
		scheme = "https"
		cert, der, err := selfSigned()
		if err != nil {
			return nil, err
		}
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		leaf, _ := x509.ParseCertificate(der)
		s.RootCAs = x509.NewCertPool()
		s.RootCAs.AddCert(leaf)
		if opts.CertFile != "" {
			data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
			if err := os.MkdirAll(filepath.Dir(opts.CertFile), 0o755); err != nil {
				return nil, fmt.Errorf("authority: write certificate: %w", err)
			}
			if err := os.WriteFile(opts.CertFile, data, 0o644); err != nil {
				return nil, fmt.Errorf("authority: write certificate: %w", err)
			}
			s.CertFile = opts.CertFile
		}
	}

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("authority: listen on %s: %w", opts.Addr, err)
	}
	s.URL = scheme + "://" + ln.Addr().String()
	if opts.TLS {
		ln = tls.NewListener(ln, s.srv.TLSConfig)
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Error("local token authority stopped", "url", s.URL, "error", err)
		}
	}()

	opts.Logger.Warn("local token authority started: its tokens are NOT real and Azure does not accept them",
		"url", s.URL, "cert_file", s.CertFile)
	return s, nil
}

// Client returns an *http.Client that trusts the server's certificate and
// connects to loopback addresses only, so that a test using it cannot reach
// another host by mistake.
func (s *Server) Client() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12},
			Proxy:           nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, _, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				ip := net.ParseIP(host)
				if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
					return nil, fmt.Errorf("authority client: refusing to dial %s: not a loopback address", addr)
				}
				return dialer.DialContext(ctx, network, addr)
			},
		},
	}
}

// Close stops the server, closes its connections and removes the
// certificate file that Serve wrote, which no client can use afterwards.
func (s *Server) Close() error {
	err := s.srv.Close()
	if s.CertFile != "" {
		if rmErr := os.Remove(s.CertFile); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("authority: remove certificate file: %w", rmErr))
		}
	}
	return err
}

// selfSigned makes an ECDSA P-256 certificate for the loopback names, valid
// from an hour ago for a week.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("authority: generate TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("authority: generate serial number: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "edgetoken local authority (not real)"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("authority: create certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der, nil
}
