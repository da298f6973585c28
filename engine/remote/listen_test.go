package remote

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
)

func TestSocketPath(t *testing.T) {
	if got := SocketPath("/var/lib/cocoon-provider"); got != "/var/lib/cocoon-provider/api.sock" {
		t.Errorf("SocketPath = %q", got)
	}
}

func TestUnixSocketMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api.sock")
	u := startUnix(t, NewServer(newAPI(), ServerOptions{}), path)
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the directory holds %d entries, want only the socket", len(entries))
	}
	u.stop()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the socket is left after the server stopped: %v", err)
	}
}

func TestUnixSocketStaleReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api.sock")
	// A socket file nothing answers on, as a crashed app leaves it.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("no stale socket: %v", err)
	}
	startUnix(t, NewServer(newAPI(), ServerOptions{}), path)
	c := dialUnix(t, path)
	if st := c.State(); st.Mode == "" {
		t.Errorf("State over the replaced socket: %+v", st)
	}
}

func TestUnixSocketLiveRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api.sock")
	startUnix(t, NewServer(newAPI(), ServerOptions{}), path)
	err := NewServer(newAPI(), ServerOptions{}).ServeUnix(context.Background(), path)
	if !errors.Is(err, ErrSocketInUse) || !strings.Contains(err.Error(), "another Cocoon Provider instance serves") {
		t.Errorf("second ServeUnix = %v", err)
	}
	// The first one still serves.
	c := dialUnix(t, path)
	if st := c.State(); st.Mode == "" {
		t.Errorf("State: %+v", st)
	}

	// A file that is not a socket is never removed.
	other := filepath.Join(t.TempDir(), "api.sock")
	if err := os.WriteFile(other, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := NewServer(newAPI(), ServerOptions{}).ServeUnix(context.Background(), other); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("ServeUnix over a file = %v", err)
	}
	if b, _ := os.ReadFile(other); string(b) != "keep me" {
		t.Error("the file was changed")
	}
	long := "/" + strings.Repeat("d", 120) + "/api.sock"
	if err := NewServer(newAPI(), ServerOptions{}).ServeUnix(context.Background(), long); err == nil || !strings.Contains(err.Error(), "shorter data directory") {
		t.Errorf("ServeUnix on a long path = %v", err)
	}
}

// startTCP serves srv with ServeTCP until the test ends and returns the
// address it listens on.
func startTCP(t *testing.T, srv *Server, addr string, public bool, certDir string) string {
	t.Helper()
	ready := make(chan string, 1)
	srv.onListen = func(a string) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeTCP(ctx, addr, public, certDir) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeTCP: %v", err)
		}
	})
	select {
	case a := <-ready:
		return a
	case err := <-done:
		done <- nil
		t.Fatalf("ServeTCP: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("ServeTCP did not start")
	}
	return ""
}

func TestServeTCPRefusals(t *testing.T) {
	ctx := context.Background()
	srv := NewServer(newAPI(), ServerOptions{Token: testToken})
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:9311", "example.com:9311"} {
		err := srv.ServeTCP(ctx, addr, false, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
			t.Errorf("ServeTCP(%q) = %v", addr, err)
		}
	}
	if err := NewServer(newAPI(), ServerOptions{}).ServeTCP(ctx, "127.0.0.1:0", false, ""); err == nil || !strings.Contains(err.Error(), "needs a token") {
		t.Errorf("ServeTCP without a token = %v", err)
	}
	if err := srv.ServeTCP(ctx, "127.0.0.1", false, ""); err == nil || !strings.Contains(err.Error(), "HOST:PORT") {
		t.Errorf("ServeTCP without a port = %v", err)
	}
}

func TestServeTCPLoopback(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "localhost"} {
		addr := startTCP(t, NewServer(newAPI(), ServerOptions{Token: testToken, Version: "9"}), host+":0", false, "")
		c, err := Dial(context.Background(), "http://"+addr, testToken, "")
		if err != nil {
			t.Fatalf("Dial %s: %v", addr, err)
		}
		if c.ServerVersion() != "9" || c.State().Mode == "" {
			t.Errorf("%s: version %q, state %+v", addr, c.ServerVersion(), c.State())
		}
		c.Close()
		if _, err := Dial(context.Background(), "http://"+addr, "wrong", ""); !errors.Is(err, ErrTokenRefused) {
			t.Errorf("%s: wrong token: %v", addr, err)
		}
	}
}

func TestServeTCPPublicTLS(t *testing.T) {
	certDir := t.TempDir()
	api := newAPI()
	addr := startTCP(t, NewServer(api, ServerOptions{Token: testToken, Version: "1"}), "0.0.0.0:0", true, certDir)
	_, port, _ := net.SplitHostPort(addr)
	target := "https://127.0.0.1:" + port

	fp, err := CertFingerprint(certDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(fp) != 64 || strings.ToLower(fp) != fp {
		t.Fatalf("fingerprint %q is not lowercase hex SHA-256", fp)
	}
	// The way people copy it: upper case with colons.
	var colons []string
	for i := 0; i < len(fp); i += 2 {
		colons = append(colons, strings.ToUpper(fp[i:i+2]))
	}
	c, err := Dial(context.Background(), target, testToken, strings.Join(colons, ":"))
	if err != nil {
		t.Fatalf("Dial with the pinned fingerprint: %v", err)
	}
	defer c.Close()
	if err := c.StartDev(context.Background()); err != nil {
		t.Fatalf("StartDev over TLS: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := c.Subscribe(ctx)
	nextEvent(t, ch, "an event over TLS", func(ev engine.Event) bool { return ev.Message == msgConnected })
	cancel()
	waitClosed(t, ch)

	wrong := strings.Repeat("0", 64)
	_, err = Dial(context.Background(), target, testToken, wrong)
	var fe *FingerprintError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), fp) || !strings.Contains(err.Error(), wrong) {
		t.Errorf("wrong fingerprint: %v", err)
	}
	if _, err := Dial(context.Background(), target, "wrong", fp); !errors.Is(err, ErrTokenRefused) {
		t.Errorf("wrong token over TLS: %v", err)
	}
	if _, err := Dial(context.Background(), "http://127.0.0.1:"+port, testToken, ""); err == nil || !strings.Contains(err.Error(), "is not a Cocoon Provider API") {
		t.Errorf("plain http to the TLS port: %v", err)
	}

	fi, err := os.Stat(filepath.Join(certDir, keyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", fi.Mode(), err)
	}
	b, _ := os.ReadFile(filepath.Join(certDir, certFile))
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("certificate key is %T", cert.PublicKey)
	}
	// The fingerprint is stable.
	if again, _ := CertFingerprint(certDir); again != fp {
		t.Errorf("fingerprint changed: %s, then %s", fp, again)
	}
}

func TestCertRegenerated(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	certPEM, keyPEM, err := newCert(now.Add(-48*time.Hour), now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, certFile), certPEM, 0o644)
	os.WriteFile(filepath.Join(dir, keyFile), keyPEM, 0o600)
	expired := fingerprintOf(t, certPEM)
	fp, err := CertFingerprint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fp == expired {
		t.Error("an expired certificate was kept")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, certFile)); fingerprintOf(t, b) != fp {
		t.Error("the new certificate is not on disk")
	}

	// A missing key: a new pair.
	os.Remove(filepath.Join(dir, keyFile))
	fp2, err := CertFingerprint(dir)
	if err != nil || fp2 == fp {
		t.Errorf("after removing the key: %s, %v", fp2, err)
	}
	// A key others can read is refused, not replaced.
	os.Chmod(filepath.Join(dir, keyFile), 0o644)
	if _, err := CertFingerprint(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("readable key: %v", err)
	}
}

func fingerprintOf(t *testing.T, certPEM []byte) string {
	t.Helper()
	blk, _ := pem.Decode(certPEM)
	if blk == nil {
		t.Fatal("no PEM")
	}
	return fingerprint(blk.Bytes)
}

func TestLoadOrCreateToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	tok, err := LoadOrCreateToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) != 32 {
		t.Errorf("token %q: %d bytes, %v", tok, len(raw), err)
	}
	path := filepath.Join(dir, "api-token")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v", fi.Mode(), err)
	}
	if again, err := LoadOrCreateToken(dir); err != nil || again != tok {
		t.Errorf("second call: %q, %v", again, err)
	}
	other, _ := LoadOrCreateToken(t.TempDir())
	if other == tok {
		t.Error("two data directories got the same token")
	}
	os.Chmod(path, 0o640)
	if _, err := LoadOrCreateToken(dir); err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Errorf("group-readable token file: %v", err)
	}
	os.Chmod(path, 0o600)
	os.WriteFile(path, []byte("\n"), 0o600)
	if _, err := LoadOrCreateToken(dir); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty token file: %v", err)
	}
}
