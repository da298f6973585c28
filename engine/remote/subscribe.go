package remote

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
)

// maxEventSize is the largest event message the client reads.
const maxEventSize = 32 << 20

// Messages of the events a Subscribe stream makes up itself.
const (
	msgConnected   = "connected to the worker host"
	msgReconnected = "reconnected to the worker host"
)

// Subscribe implements engine.API. It follows the host's event stream and
// reconnects, with a backoff of at most a few seconds, when the stream
// breaks; the channel closes when ctx ends or the Client is closed.
//
// On every (re)connection it first delivers the host's current state as
// one event of each kind (error, report when there is one, gpus,
// instance, earnings, pause) with the message "connected to the worker
// host" or "reconnected to the worker host", so a view shows nothing
// stale. When the host cannot be reached it delivers one EventError whose
// State is the last state seen with StoreError "remote host unreachable:
// …". Like the engine it never waits for a slow reader: an event that
// does not fit the channel's buffer is dropped.
func (c *Client) Subscribe(ctx context.Context) <-chan engine.Event {
	ch := make(chan engine.Event, 16)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		close(ch)
		return ch
	}
	c.following++
	c.wg.Add(1)
	c.mu.Unlock()
	sctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	go func() {
		defer c.wg.Done()
		defer close(ch)
		defer func() {
			stop()
			cancel()
			c.mu.Lock()
			c.following--
			c.mu.Unlock()
		}()
		c.follow(sctx, ch)
	}()
	return ch
}

// offer delivers ev unless the reader is behind.
func offer(ch chan<- engine.Event, ev engine.Event) {
	select {
	case ch <- ev:
	default:
	}
}

// follow keeps an event stream open until ctx ends.
func (c *Client) follow(ctx context.Context, ch chan<- engine.Event) {
	backoff := c.backoffMin
	reported := false // this outage was reported to the reader
	connectedBefore := false
	for {
		connected, err := c.stream(ctx, ch, connectedBefore)
		if ctx.Err() != nil {
			return
		}
		if connected {
			backoff, reported, connectedBefore = c.backoffMin, false, true
		}
		if errors.Is(err, ErrTokenRefused) {
			err = fmt.Errorf("%w: %s", ErrTokenRefused, tokenHint)
		}
		c.mu.Lock()
		c.downErr = err
		st := c.unreachableLocked()
		c.mu.Unlock()
		if !reported {
			reported = true
			offer(ch, engine.Event{Kind: engine.EventError, Time: time.Now(), Message: st.StoreError, State: st})
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, c.backoffMax)
	}
}

// stream reads one event stream until it breaks or ctx ends. connected
// says whether it got as far as the host's state.
func (c *Client) stream(ctx context.Context, ch chan<- engine.Event, reconnect bool) (connected bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A stream silent for longer than a few keep-alive intervals is dead
	// (a host that went away without closing the connection).
	var idle atomic.Bool
	watchdog := time.AfterFunc(c.idleTimeout, func() { idle.Store(true); cancel() })
	defer watchdog.Stop()
	resp, err := c.do(sctx, http.MethodGet, "/v1/events", nil)
	if err != nil {
		if idle.Load() {
			err = &unreachableError{cause: fmt.Errorf("no answer within %s", c.idleTimeout)}
		}
		return false, err
	}
	defer resp.Body.Close()
	defer func() {
		if connected {
			c.mu.Lock()
			c.live--
			c.mu.Unlock()
		}
	}()
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	var event string
	var data []byte
	for {
		watchdog.Reset(c.idleTimeout)
		line, err := readLine(r)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return connected, ctx.Err()
			case idle.Load():
				return connected, &unreachableError{cause: fmt.Errorf("the event stream was silent for %s", c.idleTimeout)}
			case errors.Is(err, io.EOF):
				return connected, &unreachableError{cause: errors.New("the worker host closed the event stream")}
			}
			return connected, &unreachableError{cause: err}
		}
		switch {
		case len(line) == 0:
			if data != nil {
				c.dispatch(ch, event, data, &connected, reconnect)
			}
			event, data = "", nil
		case line[0] == ':': // a comment: keep-alive
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "event":
				event = string(value)
			case "data":
				if data != nil {
					data = append(data, '\n')
				}
				data = append(data, value...)
			}
		}
	}
}

// dispatch handles one message of the stream.
func (c *Client) dispatch(ch chan<- engine.Event, event string, data []byte, connected *bool, reconnect bool) {
	switch event {
	case "state":
		var w wireState
		if err := json.Unmarshal(data, &w); err != nil {
			return
		}
		st := w.engine()
		c.setState(st, true)
		if !*connected {
			*connected = true
			c.mu.Lock()
			c.live++
			c.mu.Unlock()
		}
		msg := msgConnected
		if reconnect {
			msg = msgReconnected
		}
		now := time.Now()
		for _, k := range []engine.EventKind{engine.EventError, engine.EventReport, engine.EventGPUs, engine.EventInstance, engine.EventEarnings, engine.EventPause} {
			if k == engine.EventReport && st.Report == nil {
				continue
			}
			offer(ch, engine.Event{Kind: k, Time: now, Message: msg, State: st})
		}
	case "", "message":
		var w wireEvent
		if err := json.Unmarshal(data, &w); err != nil {
			return // from a newer server, perhaps; the next event carries the whole state again
		}
		ev := w.engine()
		if w.State.ReportSame {
			c.mu.Lock()
			ev.State.Report = c.last.Report
			c.mu.Unlock()
		}
		c.setState(ev.State, false)
		offer(ch, ev)
	}
}

// readLine reads one line without its end (\n or \r\n).
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		part, err := r.ReadSlice('\n')
		if len(line)+len(part) > maxEventSize {
			return nil, fmt.Errorf("an event is larger than %d bytes", maxEventSize)
		}
		line = append(line, part...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}
