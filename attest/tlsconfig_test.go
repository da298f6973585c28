package attest

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// handshake runs a TLS handshake between server and client configs over
// net.Pipe and returns each side's error and connection state. After a
// successful client handshake the client reads once, so that a rejection
// the server sends after the client's Finished (TLS 1.3) reaches the client.
type handshakeResult struct {
	err   error
	state tls.ConnectionState
}

func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) (server, client handshakeResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sc, cc := net.Pipe()
	deadline, _ := ctx.Deadline()
	for _, c := range []net.Conn{sc, cc} {
		if err := c.SetDeadline(deadline); err != nil {
			t.Fatal(err)
		}
	}
	srv := tls.Server(sc, serverCfg)
	cli := tls.Client(cc, clientCfg)
	serverDone := make(chan handshakeResult, 1)
	clientDone := make(chan handshakeResult, 1)
	go func() {
		err := srv.HandshakeContext(ctx)
		if err == nil {
			// One byte of application data completes the client's read.
			_, err = srv.Write([]byte{42})
		}
		serverDone <- handshakeResult{err, srv.ConnectionState()}
		_ = srv.Close() // best effort: the pipe is test-local
	}()
	go func() {
		err := cli.HandshakeContext(ctx)
		if err == nil {
			_, err = cli.Read(make([]byte, 1))
		}
		clientDone <- handshakeResult{err, cli.ConnectionState()}
		_ = cli.Close() // best effort: the pipe is test-local
	}()
	return <-serverDone, <-clientDone
}

func TestTLSHandshake(t *testing.T) {
	serverCert, err := NewCertificate(FakeTDX{}, CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := NewCertificate(FakeTDX{}, CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{AllowFake: true, AllowedImageHashes: [][32]byte{FakeTDXImageHash}}
	server, client := handshake(t, ServerConfig(serverCert, v), ClientConfig(clientCert, v))
	if server.err != nil || client.err != nil {
		t.Fatalf("handshake: server %v, client %v", server.err, client.err)
	}

	sides := []struct {
		name    string
		state   tls.ConnectionState
		wantKey ed25519.PublicKey
	}{
		{"server sees client", server.state, clientCert.Leaf.PublicKey.(ed25519.PublicKey)},
		{"client sees server", client.state, serverCert.Leaf.PublicKey.(ed25519.PublicKey)},
	}
	for _, s := range sides {
		t.Run(s.name, func(t *testing.T) {
			if s.state.Version != tls.VersionTLS13 {
				t.Errorf("version = %s, want TLS 1.3", tls.VersionName(s.state.Version))
			}
			if s.state.DidResume {
				t.Error("session resumed; tickets should be off")
			}
			peer, err := PeerFromConn(s.state, v)
			if err != nil {
				t.Fatalf("PeerFromConn: %v", err)
			}
			if !peer.Fake || peer.ImageHash != FakeTDXImageHash || !peer.Cert.PublicKey.Equal(s.wantKey) {
				t.Errorf("peer = fake %v image %x key %x; want fake TDX with key %x", peer.Fake, peer.ImageHash, peer.Cert.PublicKey, s.wantKey)
			}
		})
	}
}

func TestTLSHandshakeRejected(t *testing.T) {
	fakeCert, err := NewCertificate(FakeTDX{}, CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dev := &Verifier{AllowFake: true}
	strict := &Verifier{}
	otherImage := &Verifier{AllowFake: true, AllowedImageHashes: [][32]byte{{1}}}

	tests := []struct {
		name          string
		server        *tls.Config
		client        *tls.Config
		wantServerErr string // substring; "" means the server side must not be checked
		wantClientErr error
	}{
		{
			name:          "client presents no certificate",
			server:        ServerConfig(fakeCert, dev),
			client:        ClientConfig(tls.Certificate{}, dev),
			wantServerErr: "client didn't provide a certificate",
		},
		{
			name:          "server refuses a fake-TDX client",
			server:        ServerConfig(fakeCert, strict),
			client:        ClientConfig(fakeCert, dev),
			wantServerErr: ErrFakeQuoteNotAllowed.Error(),
		},
		{
			name:          "client refuses a server with another image",
			server:        ServerConfig(fakeCert, dev),
			client:        ClientConfig(fakeCert, otherImage),
			wantClientErr: &ImageHashError{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, client := handshake(t, tt.server, tt.client)
			t.Logf("server: %v; client: %v", server.err, client.err)
			if server.err == nil && client.err == nil {
				t.Fatal("handshake succeeded, want a failure")
			}
			if tt.wantServerErr != "" && (server.err == nil || !strings.Contains(server.err.Error(), tt.wantServerErr)) {
				t.Errorf("server error = %v, want one containing %q", server.err, tt.wantServerErr)
			}
			if tt.wantClientErr != nil {
				var ihe *ImageHashError
				if !errors.As(client.err, &ihe) {
					t.Errorf("client error = %v, want *ImageHashError", client.err)
				}
			}
		})
	}
}

func TestConfigs(t *testing.T) {
	cert, err := NewCertificate(FakeTDX{}, CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{AllowFake: true}
	tests := []struct {
		name       string
		cfg        *tls.Config
		clientAuth tls.ClientAuthType
		skipVerify bool
	}{
		{"server", ServerConfig(cert, v), tls.RequireAnyClientCert, false},
		{"client", ClientConfig(cert, v), tls.NoClientCert, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			if c.MinVersion != tls.VersionTLS13 || c.MaxVersion != tls.VersionTLS13 {
				t.Errorf("versions = %x..%x, want TLS 1.3 only", c.MinVersion, c.MaxVersion)
			}
			if !c.SessionTicketsDisabled || c.ClientSessionCache != nil {
				t.Error("session tickets are on")
			}
			if c.ClientAuth != tt.clientAuth || c.InsecureSkipVerify != tt.skipVerify {
				t.Errorf("ClientAuth %v InsecureSkipVerify %v, want %v %v", c.ClientAuth, c.InsecureSkipVerify, tt.clientAuth, tt.skipVerify)
			}
			if len(c.Certificates) != 1 || c.VerifyPeerCertificate == nil {
				t.Fatal("certificate or VerifyPeerCertificate missing")
			}
			if err := c.VerifyPeerCertificate(cert.Certificate, nil); err != nil {
				t.Errorf("VerifyPeerCertificate(own cert): %v", err)
			}
			if err := c.VerifyPeerCertificate(nil, nil); err == nil {
				t.Error("VerifyPeerCertificate(no certs) succeeded")
			}
		})
	}
}

func TestPeerFromConnErrors(t *testing.T) {
	cert, err := NewCertificate(FakeTDX{}, CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{AllowFake: true}
	tests := []struct {
		name    string
		cs      tls.ConnectionState
		wantErr string
	}{
		{"handshake not complete", tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: nil}, "not complete"},
		{"TLS 1.2", tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS12}, "want TLS 1.3"},
		{"no peer certificate", tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}, "no certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := PeerFromConn(tt.cs, v); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("PeerFromConn error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	ok := tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{cert.Leaf}}
	if _, err := PeerFromConn(ok, v); err != nil {
		t.Errorf("PeerFromConn(valid state): %v", err)
	}
}
