package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"
)

// Health protocol limits (interface spec §7): a request payload is at most
// 16536 bytes; a response at most 20 MiB.
const (
	maxHealthRequest  = 16536
	maxHealthResponse = 20 << 20
	healthIdleTimeout = 10 * time.Minute
)

// errFrameTooLarge says a frame's length prefix is above the limit.
var errFrameTooLarge = errors.New("health frame too large")

// readFrame reads one message: a 4-byte little-endian length, then that
// many bytes. A length above limit gives errFrameTooLarge without reading
// the payload.
func readFrame(r io.Reader, limit int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if int64(n) > int64(limit) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", errFrameTooLarge, n, limit)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("read health frame payload: %w", err)
	}
	return buf, nil
}

// writeFrame writes one message in a single write.
func writeFrame(w io.Writer, payload []byte) error {
	if len(payload) > maxHealthResponse {
		payload = []byte(healthError("response too large"))
	}
	buf := make([]byte, 4+len(payload))
	binary.LittleEndian.PutUint32(buf, uint32(len(payload)))
	copy(buf[4:], payload)
	_, err := w.Write(buf)
	return err
}

// serveHealthConn answers requests on one connection until the peer closes
// it, stays idle too long, or sends an oversized frame.
func serveHealthConn(c net.Conn, dispatch func(string) string, log *slog.Logger) {
	defer c.Close()
	for {
		_ = c.SetReadDeadline(time.Now().Add(healthIdleTimeout))
		req, err := readFrame(c, maxHealthRequest)
		if err != nil {
			if errors.Is(err, errFrameTooLarge) {
				_ = writeFrame(c, []byte(healthError("request too large (limit 16536 bytes)")))
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Debug("health connection ended", "err", err)
			}
			return
		}
		_ = c.SetWriteDeadline(time.Now().Add(time.Minute))
		if err := writeFrame(c, []byte(dispatch(string(req)))); err != nil {
			log.Debug("health reply failed", "err", err)
			return
		}
	}
}

// serveHealth runs the health protocol on ln until ctx ends.
func serveHealth(ctx context.Context, ln net.Listener, dispatch func(string) string, log *slog.Logger) error {
	return serveConns(ctx, ln, log, func(c net.Conn) { serveHealthConn(c, dispatch, log) })
}
