//go:build linux

package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

// logind's manager on the system bus. Its IdleHint is true while every
// session is idle (a graphical session as its desktop reports it, a
// terminal or SSH session by its terminal's last input); IdleSinceHint
// is when that changed, in µs since the epoch. Reading them needs no
// privileges.
const (
	logindDest      = "org.freedesktop.login1"
	logindPath      = "/org/freedesktop/login1"
	logindManager   = "org.freedesktop.login1.Manager"
	logindRetry     = time.Minute
	logindCallLimit = 2 * time.Second
)

// logindIdle is an IdleSource over logind's idle hints. It keeps one
// system-bus connection and, after a failure, tries again no sooner than
// logindRetry.
type logindIdle struct {
	conn    *dbus.Conn
	lastTry time.Time
	lastErr string
	now     func() time.Time
}

// newIdleSource returns the host's IdleSource: logind's hints.
func newIdleSource(now func() time.Time) IdleSource { return &logindIdle{now: now} }

// Idle implements IdleSource.
func (l *logindIdle) Idle(ctx context.Context) IdleState {
	if l.conn == nil {
		if !l.lastTry.IsZero() && l.now().Sub(l.lastTry) < logindRetry {
			return unknownIdle(l.lastErr)
		}
		l.lastTry = l.now()
		conn, err := dbus.ConnectSystemBus()
		if err != nil {
			l.lastErr = fmt.Sprintf("no system D-Bus (%v)", err)
			return unknownIdle(l.lastErr)
		}
		l.conn = conn
	}
	get := func(prop string) (any, error) {
		ctx, cancel := context.WithTimeout(ctx, logindCallLimit)
		defer cancel()
		var v dbus.Variant
		err := l.conn.Object(logindDest, logindPath).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, logindManager, prop).Store(&v)
		return v.Value(), err
	}
	st := logindHints(get)
	if !st.Known {
		l.conn.Close()
		l.conn, l.lastTry, l.lastErr = nil, l.now(), st.Why
	}
	return st
}

// logindHints reads IdleHint and IdleSinceHint through get.
func logindHints(get func(prop string) (any, error)) IdleState {
	hint, err := get("IdleHint")
	if err != nil {
		return unknownIdle(fmt.Sprintf("logind does not answer (%v)", err))
	}
	idle, ok := hint.(bool)
	if !ok {
		return unknownIdle(fmt.Sprintf("logind's IdleHint is a %T, not a boolean", hint))
	}
	st := IdleState{Known: true, Idle: idle}
	since, err := get("IdleSinceHint")
	if err != nil {
		return unknownIdle(fmt.Sprintf("logind does not answer (%v)", err))
	}
	us, ok := since.(uint64)
	if !ok {
		return unknownIdle(fmt.Sprintf("logind's IdleSinceHint is a %T, not a number", since))
	}
	if us != 0 {
		st.Since = time.UnixMicro(int64(us))
	}
	return st
}

func unknownIdle(why string) IdleState {
	return IdleState{Why: "idle detection is unavailable: " + why}
}
