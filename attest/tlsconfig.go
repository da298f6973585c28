package attest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// ServerConfig returns a TLS config for an RA-TLS server (spec §5 "TLS"):
// TLS 1.3 only, no session tickets, and a client certificate is required and
// checked by v (crypto/x509 verification is never run on it). A nil v
// behaves as the zero Verifier.
//
// Go does not let TLS 1.3 cipher suites be configured; it offers
// TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 and
// TLS_CHACHA20_POLY1305_SHA256, and Cocoon peers offer only the two AES
// suites, so an AES suite is always negotiated with them.
func ServerConfig(cert tls.Certificate, v *Verifier) *tls.Config {
	cfg := baseConfig(cert, v)
	cfg.ClientAuth = tls.RequireAnyClientCert
	return cfg
}

// ClientConfig returns a TLS config for an RA-TLS client: as ServerConfig,
// with InsecureSkipVerify set so that v, through VerifyPeerCertificate, is
// the only check on the server's certificate. cert is presented when the
// server asks for a client certificate, which Cocoon servers always do.
func ClientConfig(cert tls.Certificate, v *Verifier) *tls.Config {
	cfg := baseConfig(cert, v)
	// The server certificate is self-signed with critical extensions that
	// crypto/x509 rejects; v.Verify checks it instead.
	cfg.InsecureSkipVerify = true //nolint:gosec // verified by VerifyPeerCertificate.
	return cfg
}

func baseConfig(cert tls.Certificate, v *Verifier) *tls.Config {
	cfg := &tls.Config{
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		SessionTicketsDisabled: true,
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			_, err := v.Verify(rawCerts)
			return err
		},
	}
	if len(cert.Certificate) > 0 {
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// PeerFromConn returns the verified Peer of a finished TLS handshake (for
// example conn.ConnectionState() of a connection made with ServerConfig or
// ClientConfig). It verifies the peer certificate again with v, at v's
// current time, so call it right after the handshake: on a long-lived
// connection the certificate may have expired since.
func PeerFromConn(cs tls.ConnectionState, v *Verifier) (*Peer, error) {
	if !cs.HandshakeComplete {
		return nil, errors.New("attest: TLS handshake not complete")
	}
	if cs.Version != tls.VersionTLS13 {
		return nil, fmt.Errorf("attest: TLS version %s, want TLS 1.3", tls.VersionName(cs.Version))
	}
	if len(cs.PeerCertificates) == 0 {
		return nil, errors.New("attest: peer presented no certificate")
	}
	raw := make([][]byte, len(cs.PeerCertificates))
	for i, c := range cs.PeerCertificates {
		raw[i] = c.Raw
	}
	return v.Verify(raw)
}
