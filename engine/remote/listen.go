package remote

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Files in the data directory.
const (
	socketFile = "api.sock"
	tokenFile  = "api-token"
	certFile   = "api-cert.pem"
	keyFile    = "api-key.pem"
)

const (
	// maxSocketPath is the longest unix socket path every platform takes
	// (sun_path is 104 bytes on macOS, 108 on Linux, with the final NUL).
	maxSocketPath = 103
	// certLifetime is how long a new certificate is valid. Clients pin it,
	// so it should rarely change.
	certLifetime = 10 * 365 * 24 * time.Hour
	// shutdownGrace is how long a listener waits for requests to finish
	// once its context ended.
	shutdownGrace = 5 * time.Second
)

// ErrSocketInUse is returned by ServeUnix when another process answers on
// the socket: another instance of the app serves this data directory.
var ErrSocketInUse = errors.New("another Cocoon Provider instance serves this socket")

// SocketPath is the API's unix socket in dataDir.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, socketFile) }

// ServeUnix listens on a unix socket at path (file mode 0600; no token:
// only the owner can connect) until ctx ends. A stale socket file that
// nothing answers on is replaced; a live one is an error wrapping
// ErrSocketInUse.
func (s *Server) ServeUnix(ctx context.Context, path string) error {
	if len(path) > maxSocketPath {
		return fmt.Errorf("API socket %s: the path is %d bytes long, unix sockets take at most %d; choose a shorter data directory", path, len(path), maxSocketPath)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("API socket: %w", err)
	}
	if err := clearStaleSocket(path); err != nil {
		return err
	}
	ln, err := listenUnix0600(dir, path)
	if err != nil {
		return err
	}
	ours, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return fmt.Errorf("API socket: %w", err)
	}
	defer func() {
		// Remove the socket only if it is still ours.
		if fi, err := os.Lstat(path); err == nil && os.SameFile(fi, ours) {
			os.Remove(path)
		}
	}()
	return s.serve(ctx, ln, s.Handler(false), nil, "unix:"+path)
}

// listenUnix0600 creates the socket with mode 0600 before anyone can
// connect: it binds in a private directory, sets the mode, then links the
// socket into place (a link never replaces a file another process put
// there meanwhile).
func listenUnix0600(dir, path string) (net.Listener, error) {
	tmp, err := os.MkdirTemp(dir, ".sock")
	if err != nil {
		return nil, fmt.Errorf("API socket: %w", err)
	}
	defer os.RemoveAll(tmp)
	tmpSock := filepath.Join(tmp, "s")
	if len(tmpSock) > maxSocketPath {
		// No room for the private directory: bind in place. The data
		// directory (0700) still keeps others out.
		return listenUnixInPlace(path)
	}
	ln, err := net.Listen("unix", tmpSock)
	if err != nil {
		return nil, fmt.Errorf("API socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmpSock, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("API socket: %w", err)
	}
	if err := os.Link(tmpSock, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			ln.Close()
			return nil, fmt.Errorf("API socket %s: %w", path, ErrSocketInUse)
		}
		// The file system takes no links: bind in place.
		ln.Close()
		return listenUnixInPlace(path)
	}
	return ln, nil
}

func listenUnixInPlace(path string) (net.Listener, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("API socket %s: %w", path, ErrSocketInUse)
		}
		return nil, fmt.Errorf("API socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, fmt.Errorf("API socket: %w", err)
	}
	return ln, nil
}

// clearStaleSocket removes a socket file nothing answers on. A live socket
// is ErrSocketInUse; a file that is not a socket is left alone.
func clearStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("API socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("API socket %s: a file that is not a socket is in the way; move it elsewhere", path)
	}
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("API socket %s: %w", path, ErrSocketInUse)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("API socket %s: cannot tell whether another instance serves it: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("API socket %s: remove the stale socket: %w", path, err)
	}
	return nil
}

// ServeTCP listens on addr until ctx ends; it always requires the token.
// A non-loopback address is refused unless public. A public listener uses
// TLS with the self-signed certificate in certDir (see CertFingerprint);
// a loopback one that is not public serves plain HTTP.
func (s *Server) ServeTCP(ctx context.Context, addr string, public bool, certDir string) error {
	if s.opts.Token == "" {
		return errors.New("the API on TCP needs a token; none was given")
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("API address %q: %v; use HOST:PORT such as 127.0.0.1:9311", addr, err)
	}
	if !isLoopback(host) && !public {
		return fmt.Errorf("API address %s is not a loopback address: serving the API to the network must be asked for explicitly (public), and then uses TLS", addr)
	}
	var cfg *tls.Config
	if public {
		cert, created, err := loadOrCreateCert(certDir, time.Now())
		if err != nil {
			return err
		}
		fp := fingerprint(cert.Certificate[0])
		if created {
			s.log.Info("made a new API certificate; clients pin its fingerprint", "fingerprint", fp)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
		s.log.Info("API certificate", "fingerprint", fp)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("API: %w", err)
	}
	scheme := "http://"
	if public {
		scheme = "https://"
	}
	return s.serve(ctx, ln, s.Handler(true), cfg, scheme+ln.Addr().String())
}

// isLoopback reports whether host names only this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i]
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serve runs an HTTP server on ln until ctx ends. Requests see ctx end,
// so event streams stop, then the server shuts down.
func (s *Server) serve(ctx context.Context, ln net.Listener, h http.Handler, cfg *tls.Config, label string) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         cfg,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.log.Info("API listening", "addr", label)
	if s.onListen != nil {
		s.onListen(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() {
		if cfg != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("API %s: %w", label, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	s.log.Info("API stopped", "addr", label)
	return nil
}

// certMu keeps this process from writing the certificate twice at once.
var certMu sync.Mutex

// CertFingerprint returns the SHA-256 fingerprint (lowercase hex) of the
// API's TLS certificate in certDir, creating the certificate if needed, so
// operators can give it to clients.
func CertFingerprint(certDir string) (string, error) {
	cert, _, err := loadOrCreateCert(certDir, time.Now())
	if err != nil {
		return "", err
	}
	return fingerprint(cert.Certificate[0]), nil
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// errRegenerate: the certificate is missing, damaged or expired.
var errRegenerate = errors.New("regenerate")

// loadOrCreateCert loads the certificate and key in dir, or makes new ones
// when they are missing, do not match, cannot be read or have expired.
func loadOrCreateCert(dir string, now time.Time) (tls.Certificate, bool, error) {
	certMu.Lock()
	defer certMu.Unlock()
	cp, kp := filepath.Join(dir, certFile), filepath.Join(dir, keyFile)
	cert, err := loadCert(cp, kp, now)
	if err == nil {
		return cert, false, nil
	}
	if !errors.Is(err, errRegenerate) {
		return tls.Certificate{}, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, false, fmt.Errorf("API certificate: %w", err)
	}
	certPEM, keyPEM, err := newCert(now, now.Add(certLifetime))
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("API certificate: %w", err)
	}
	// The key first: a certificate without its key is made again.
	if err := writeFileAtomic(kp, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, false, fmt.Errorf("API certificate: %w", err)
	}
	if err := writeFileAtomic(cp, certPEM, 0o644); err != nil {
		return tls.Certificate{}, false, fmt.Errorf("API certificate: %w", err)
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("API certificate: %w", err)
	}
	return cert, true, nil
}

func loadCert(cp, kp string, now time.Time) (tls.Certificate, error) {
	fi, err := os.Stat(kp)
	if errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, errRegenerate
	}
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("API certificate key: %w", err)
	}
	if err := checkPrivate(kp, fi); err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.LoadX509KeyPair(cp, kp)
	if err != nil {
		return tls.Certificate{}, errRegenerate
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, errRegenerate
		}
	}
	if now.After(leaf.NotAfter) {
		return tls.Certificate{}, errRegenerate
	}
	return cert, nil
}

// newCert makes a self-signed ECDSA P-256 server certificate. Clients pin
// it, so its names do not matter; they name the host for people.
func newCert(notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	names := []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		names = append([]string{h}, names...)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Cocoon Provider API", Organization: []string{"Cocoon Provider"}},
		NotBefore:             notBefore.Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// LoadOrCreateToken returns the API token in dataDir/api-token, making a
// new one (32 random bytes, base64url, file mode 0600) when there is none.
// A token file other users can read is refused.
func LoadOrCreateToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, tokenFile)
	tok, err := readToken(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("API token: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("API token: %w", err)
	}
	tok = base64.RawURLEncoding.EncodeToString(b)
	if err := createFileOnce(path, []byte(tok+"\n"), 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readToken(path) // another process made one first
		}
		return "", fmt.Errorf("API token: %w", err)
	}
	return tok, nil
}

func readToken(path string) (string, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("API token: %w", err)
	}
	if err := checkPrivate(path, fi); err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("API token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("API token file %s is empty; delete it and a new token is made", path)
	}
	return tok, nil
}

// checkPrivate refuses a secret file that group or others may access.
// Windows keeps no such mode bits.
func checkPrivate(path string, fi fs.FileInfo) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s is readable by other users (mode %04o); it must be private: run chmod 600 %s", path, perm, path)
	}
	return nil
}

// createFileOnce writes a new file whole, or fails with fs.ErrExist when
// path exists: readers never see it half written.
func createFileOnce(path string, data []byte, perm fs.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	err = os.Link(tmp, path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	// The file system takes no links.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// writeFileAtomic replaces path with data.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeTemp writes data to a new file next to path and returns its name.
func writeTemp(path string, data []byte, perm fs.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", err
	}
	if err := f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}
