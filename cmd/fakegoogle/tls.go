package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"
)

// selfSigned returns a new self-signed ECDSA P-256 certificate for the
// loopback names (127.0.0.1, ::1, localhost), valid from an hour ago for 30
// days, and its PEM. The key never leaves memory.
func selfSigned(now time.Time) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "fakegoogle on loopback", Organization: []string{"serverauth fakegoogle (testing only)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so that clients can take it as their trust anchor, as a self-signed certificate made by openssl req -x509
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// fingerprint returns the SHA-256 of a certificate's DER as colon-separated
// upper-case hex, as browsers and openssl x509 -fingerprint show it.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// writeCertPEM writes the certificate's PEM to path, or to a new file in the
// temporary directory when path is empty, and returns the path and whether
// the file is a temporary one (to remove on exit).
func writeCertPEM(path string, pemBytes []byte) (string, bool, error) {
	if path != "" {
		if err := os.WriteFile(path, pemBytes, 0o644); err != nil {
			return "", false, fmt.Errorf("fakegoogle: -tls-cert: %w", err)
		}
		return path, false, nil
	}
	f, err := os.CreateTemp("", "fakegoogle-cert-*.pem")
	if err != nil {
		return "", false, fmt.Errorf("fakegoogle: writing the certificate: %w", err)
	}
	if _, err := f.Write(pemBytes); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", false, fmt.Errorf("fakegoogle: writing the certificate: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", false, fmt.Errorf("fakegoogle: writing the certificate: %w", err)
	}
	return f.Name(), true, nil
}
