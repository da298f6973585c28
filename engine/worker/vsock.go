package worker

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/mdlayher/vsock"
)

// VsockAddr formats a vsock address for DialVsock: "cid:port".
func VsockAddr(cid, port uint32) string {
	return strconv.FormatUint(uint64(cid), 10) + ":" + strconv.FormatUint(uint64(port), 10)
}

// DialVsock is a DialFunc for AF_VSOCK (Linux): addr is "cid:port" (see
// VsockAddr) and network is ignored. It is the production dialer for the
// health monitor; the clients do not depend on it.
func DialVsock(ctx context.Context, _ string, addr string) (net.Conn, error) {
	c, p, ok := strings.Cut(addr, ":")
	cid, err1 := strconv.ParseUint(c, 10, 32)
	port, err2 := strconv.ParseUint(p, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return nil, fmt.Errorf("vsock address %q: want cid:port", addr)
	}
	conn, err := vsock.DialContext(ctx, uint32(cid), uint32(port), nil)
	if err != nil {
		return nil, fmt.Errorf("dial vsock %s: %w (is the VM running and /dev/vhost-vsock available?)", addr, err)
	}
	return conn, nil
}
