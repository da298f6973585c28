// Package litetest runs loopback TON liteservers for tests: tonutils-go's
// own server side of the protocol, answering with canned data, so the
// client code under test runs for real over TCP (ton-integration §3.3).
// It also gives the failures a health check must tell apart: a port where
// nothing listens, and one that accepts connections but never answers.
//
// Only tests import it.
package litetest

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/adnl"
	"github.com/xssnick/tonutils-go/liteclient"
	"github.com/xssnick/tonutils-go/tl"
	"github.com/xssnick/tonutils-go/ton"
)

// Seqno is the masterchain block a Server reports unless told otherwise.
const Seqno = 54_500_000

// BlockAge is how old, by the server's clock, its last block is unless told
// otherwise.
const BlockAge = 3 * time.Second

func init() {
	// The library's server logs every connection; keep test and benchmark
	// output readable. Set before any test starts a server.
	liteclient.Logger = func(...any) {}
}

// Handler answers a query the Server does not answer itself (everything
// but masterchain info). Calls made through WaitForBlock arrive without
// their waitMasterchainSeqno prefix. Return nil for "not served".
type Handler func(q tl.Serializable) tl.Serializable

// Server is a loopback liteserver.
type Server struct {
	Addr string // 127.0.0.1:port
	Pub  ed25519.PublicKey

	handler Handler

	mu      sync.Mutex
	seqno   uint32
	age     time.Duration
	queries int
}

// Option configures Start.
type Option func(*Server)

// WithHandler serves the queries other than masterchain info.
func WithHandler(h Handler) Option { return func(s *Server) { s.handler = h } }

// WithMasterchain makes the server report seqno as its last masterchain
// block, made age ago: an older seqno and a larger age make a server that
// lags behind.
func WithMasterchain(seqno uint32, age time.Duration) Option {
	return func(s *Server) { s.seqno, s.age = seqno, age }
}

// Start listens on a loopback port. The library's Server has no safe way to
// stop it (Close races with its accept loop), so it runs until the test
// binary exits. It skips t when the protocol code would crash (see
// SkipUnlessWireSafe).
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	SkipUnlessWireSafe(t)
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)), Pub: pub, seqno: Seqno, age: BlockAge}
	for _, o := range opts {
		o(s)
	}
	srv := liteclient.NewServer([]ed25519.PrivateKey{key})
	srv.SetMessageHandler(s.handle)
	go func() { _ = srv.Listen(s.Addr) }()
	// Wait until it accepts, within a bound.
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("fake liteserver did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SetMasterchain changes the block the server reports from now on.
func (s *Server) SetMasterchain(seqno uint32, age time.Duration) {
	s.mu.Lock()
	s.seqno, s.age = seqno, age
	s.mu.Unlock()
}

// Queries counts the liteserver queries answered so far.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// Block is the server's last masterchain block.
func (s *Server) Block() *ton.BlockIDExt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Block(s.seqno)
}

// Block is a masterchain block id with the given seqno and fixed hashes.
func Block(seqno uint32) *ton.BlockIDExt {
	h := make([]byte, 32)
	h[0] = 0xbb
	return &ton.BlockIDExt{Workchain: -1, Shard: -9223372036854775808, SeqNo: seqno, RootHash: h, FileHash: h}
}

// Config is the server's entry for a global config.
func (s *Server) Config() liteclient.LiteserverConfig {
	host, port, _ := net.SplitHostPort(s.Addr)
	var p int
	fmt.Sscan(port, &p)
	return entry(net.ParseIP(host), p, s.Pub)
}

func entry(ip net.IP, port int, pub ed25519.PublicKey) liteclient.LiteserverConfig {
	ip = ip.To4()
	return liteclient.LiteserverConfig{
		// The config stores the address as a signed 32-bit integer.
		IP:   int64(int32(uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3]))),
		Port: port,
		ID:   liteclient.ServerID{Type: "pub.ed25519", Key: base64.StdEncoding.EncodeToString(pub)},
	}
}

func randomPub(t testing.TB) ed25519.PublicKey {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func (s *Server) handle(_ context.Context, sc *liteclient.ServerClient, msg tl.Serializable) error {
	switch m := msg.(type) {
	case liteclient.TCPAuthenticate:
		// The default client pool always authenticates; without this
		// answer AddConnection times out.
		return sc.Send(liteclient.TCPAuthenticationNonce{Nonce: make([]byte, 32)})
	case liteclient.TCPAuthenticationComplete:
		return nil
	case liteclient.TCPPing:
		return sc.Send(liteclient.TCPPong{RandomID: m.RandomID})
	case adnl.MessageQuery:
		q, ok := m.Data.(liteclient.LiteServerQuery)
		if !ok {
			return fmt.Errorf("unexpected query %T", m.Data)
		}
		data := q.Data
		if list, ok := data.([]tl.Serializable); ok { // waitMasterchainSeqno prefix
			data = list[len(list)-1]
		}
		return sc.Send(adnl.MessageAnswer{ID: m.ID, Data: s.answer(data)})
	}
	return fmt.Errorf("unexpected message %T", msg)
}

func (s *Server) answer(q tl.Serializable) tl.Serializable {
	s.mu.Lock()
	seqno, age := s.seqno, s.age
	s.queries++
	s.mu.Unlock()
	zero := make([]byte, 32)
	zs := &ton.ZeroStateIDExt{Workchain: -1, RootHash: zero, FileHash: zero}
	switch q.(type) {
	case ton.GetMasterchainInf:
		return ton.MasterchainInfo{Last: Block(seqno), StateRootHash: zero, Init: zs}
	case ton.GetMasterchainInfoExt:
		now := time.Now()
		return ton.MasterchainInfoExt{Version: 1, Last: Block(seqno), LastUTime: uint32(now.Add(-age).Unix()),
			Now: uint32(now.Unix()), StateRootHash: zero, Init: zs}
	}
	if s.handler != nil {
		if a := s.handler(q); a != nil {
			return a
		}
	}
	return ton.LSError{Code: 400, Text: fmt.Sprintf("the fake liteserver does not serve %T", q)}
}

// Refusing is a config entry for a loopback port where nothing listens, so
// connecting is refused at once.
func Refusing(t testing.TB) liteclient.LiteserverConfig {
	t.Helper()
	return entry(net.IPv4(127, 0, 0, 1), FreePort(t), randomPub(t))
}

// Silent is a config entry for a loopback port that accepts connections
// but never sends a byte, as an overloaded or wedged server does: clients
// run into their timeouts. It stops when the test ends. Clients get far
// enough to speak the protocol, so it skips t as Start does.
func Silent(t testing.TB) liteclient.LiteserverConfig {
	t.Helper()
	SkipUnlessWireSafe(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // hold it open, say nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return entry(net.IPv4(127, 0, 0, 1), l.Addr().(*net.TCPAddr).Port, randomPub(t))
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// GlobalConfig is the JSON of a global config listing servers; with
// initBlock it also names a (made-up) trusted init block.
func GlobalConfig(t testing.TB, servers []liteclient.LiteserverConfig, initBlock bool) []byte {
	t.Helper()
	cfg := liteclient.GlobalConfig{Type: "config.global", Liteservers: servers}
	if initBlock {
		h := make([]byte, 32)
		cfg.Validator.InitBlock = liteclient.ConfigBlock{Workchain: -1, Shard: -9223372036854775808, SeqNo: 1, RootHash: h, FileHash: h}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// WriteConfig writes GlobalConfig into a fresh temporary file and returns
// its path.
func WriteConfig(t testing.TB, servers []liteclient.LiteserverConfig, initBlock bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "global.config.json")
	if err := os.WriteFile(path, GlobalConfig(t, servers, initBlock), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// SkipUnlessWireSafe skips tests that speak the liteserver protocol when
// they would crash: tonutils-go's tl package turns uintptr offsets into
// pointers, which Go's checkptr instrumentation (on by default with -race)
// aborts as "pointer arithmetic result points to invalid allocation".
func SkipUnlessWireSafe(t testing.TB) {
	t.Helper()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	race, gcflags := false, ""
	for _, s := range bi.Settings {
		switch s.Key {
		case "-race":
			race = s.Value == "true"
		case "-gcflags":
			gcflags = s.Value
		}
	}
	if race && !strings.Contains(gcflags, "checkptr=0") {
		t.Skip("-race turns on checkptr, which tonutils-go's tl package fails; add " +
			"-gcflags='github.com/xssnick/tonutils-go/...=-d=checkptr=0' to run the liteserver tests under -race")
	}
}
