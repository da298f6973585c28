//go:build linux

package vm

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/vm/vmtest"
)

func TestDialQMPWaitsForSocket(t *testing.T) {
	t.Parallel()
	paths := newPaths(t)
	// The fake opens its socket only after a delay, like a slow QEMU.
	p := fakeQEMU(t, paths, vmtest.FakeBehaviour{QMPDelay: 300 * time.Millisecond}, ProcessOptions{})
	startProcess(t, p)
	ctx := testCtx(t)
	st, err := p.QMP().Status(ctx)
	if err != nil || st.Status != "running" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if v := p.QMP().Version(); v != "7.2.0" {
		t.Errorf("version = %q", v)
	}
	if _, err := p.QMP().Run(ctx, "no-such-command", nil); err == nil || !strings.Contains(err.Error(), "has not been found") {
		t.Errorf("unknown command: %v", err)
	}
	if err := p.Stop(ctx, 0); err != nil {
		t.Fatal(err)
	}
}

func TestDialQMPBoundedByContext(t *testing.T) {
	t.Parallel()
	paths := newPaths(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := DialQMP(ctx, paths.qmp)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DialQMP on a missing socket = %v, want a deadline error", err)
	}
}

func TestDialQMPWhileAnotherClientIsConnected(t *testing.T) {
	t.Parallel()
	paths := newPaths(t)
	p := fakeQEMU(t, paths, vmtest.FakeBehaviour{}, ProcessOptions{})
	exited := startProcess(t, p)
	// p holds the monitor: a second client gets no greeting.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := DialQMP(ctx, paths.qmp); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "another client") {
		t.Fatalf("second DialQMP = %v", err)
	}
	// Once the first lets go, the next client gets in.
	if err := p.QMP().Close(); err != nil {
		t.Fatal(err)
	}
	q, err := DialQMP(testCtx(t), paths.qmp)
	if err != nil {
		t.Fatalf("DialQMP after the first client left: %v", err)
	}
	defer q.Close()
	if _, err := q.Status(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.QMP().Status(testCtx(t)); !errors.Is(err, ErrQMPClosed) {
		t.Errorf("closed client: %v, want ErrQMPClosed", err)
	}
	if err := q.Quit(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := receive(t, exited); err != nil {
		t.Fatalf("exit after quit: %v", err)
	}
}

func TestQMPRunTimesOut(t *testing.T) {
	t.Parallel()
	// A server that greets and accepts capabilities, then never answers.
	paths := newPaths(t)
	ln, err := net.Listen("unix", paths.qmp)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte(`{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}}` + "\r\n"))
		buf := make([]byte, 4096)
		c.Read(buf)
		c.Write([]byte(`{"return": {}}` + "\r\n"))
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	q, err := DialQMP(testCtx(t), paths.qmp)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := q.Status(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Status = %v, want a deadline error", err)
	}
	select {
	case <-q.Done():
	case <-time.After(testTimeout):
		t.Fatal("connection not closed after a command timed out")
	}
	if err := q.Powerdown(testCtx(t)); !errors.Is(err, ErrQMPClosed) {
		t.Errorf("after close: %v", err)
	}
}

func TestQMPEventsRealQEMU(t *testing.T) {
	t.Parallel()
	qemu := vmtest.RequireQEMU(t)
	paths := newPaths(t)
	p := NewProcess(qemu, vmtest.IdleVMArgs(paths.qmp, ""), ProcessOptions{QMPSocket: paths.qmp})
	killAtEnd(t, p.PID)
	exited := startProcess(t, p)
	q := p.QMP()
	events, cancel := q.Subscribe(16)
	defer cancel()
	ctx := testCtx(t)
	if err := q.Powerdown(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, events); ev.Name != QMPEventPowerdown {
		t.Errorf("event %q, want POWERDOWN", ev.Name)
	}
	if _, err := q.Run(ctx, "system_reset", nil); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, events); ev.Name != QMPEventReset {
		t.Errorf("event %q, want RESET", ev.Name)
	}
	if err := q.Quit(ctx); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, events)
	if ev.Name != QMPEventShutdown || ev.Data["reason"] != "host-qmp-quit" || ev.Time.IsZero() {
		t.Errorf("event %+v, want SHUTDOWN host-qmp-quit", ev)
	}
	if err := receive(t, exited); err != nil {
		t.Errorf("exit: %v", err)
	}
	// The subscription ends with the connection.
	select {
	case _, ok := <-events:
		if ok {
			t.Error("event after SHUTDOWN")
		}
	case <-time.After(testTimeout):
		t.Error("events channel not closed")
	}
}

func nextEvent(t *testing.T, ch <-chan QMPEvent) QMPEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("events channel closed")
		}
		return ev
	case <-time.After(testTimeout):
		t.Fatal("no QMP event")
	}
	return QMPEvent{}
}
