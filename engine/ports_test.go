package engine

import (
	"net"
	"os"
	"strings"
	"testing"
)

func TestCheckPortFreeNamesHolder(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	err = checkPortFree(addr)
	if err == nil || !strings.Contains(err.Error(), "already in use by PID ") {
		t.Fatalf("checkPortFree(%s) = %v, want it to name this process", addr, err)
	}
	_, port, _ := net.SplitHostPort(addr)
	if pid, _, ok := tcpListener(port); !ok || pid != os.Getpid() {
		t.Errorf("tcpListener = %d %v, want %d", pid, ok, os.Getpid())
	}
	l.Close()
	if err := checkPortFree(addr); err != nil {
		t.Errorf("after close: %v", err)
	}
}
