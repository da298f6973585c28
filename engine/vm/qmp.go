package vm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

// QMP event names the app reacts to.
const (
	// QMPEventShutdown: QEMU is about to exit (guest power-off, quit, signal).
	QMPEventShutdown = "SHUTDOWN"
	// QMPEventPowerdown: system_powerdown was delivered to the guest (ACPI).
	QMPEventPowerdown = "POWERDOWN"
	// QMPEventReset: the guest rebooted.
	QMPEventReset = "RESET"
)

// ErrQMPClosed is returned by a QMPClient whose connection has ended (QEMU
// exited, or Close was called).
var ErrQMPClosed = errors.New("QMP connection closed")

// qmpDialRetry is how often DialQMP tries again while the socket is missing
// or refuses connections; qmpDialTimeout bounds one connect(2).
const (
	qmpDialRetry   = 50 * time.Millisecond
	qmpDialTimeout = time.Second
)

// QMPEvent is one asynchronous QMP event.
type QMPEvent struct {
	Name string         `json:"event"`
	Data map[string]any `json:"data,omitempty"`
	// Time is QEMU's timestamp of the event.
	Time time.Time `json:"time"`
}

// QMPStatus is the answer to query-status.
type QMPStatus struct {
	// Status is QEMU's run state: "running", "paused", "prelaunch",
	// "shutdown", "guest-panicked", …
	Status  string `json:"status"`
	Running bool   `json:"running"`
}

// QMPClient is a connection to a QEMU monitor socket in QMP mode. It is
// safe for concurrent use; commands are serialised.
//
// QEMU serves one QMP client per socket at a time: while another client is
// connected, a new one waits (DialQMP returns only when ctx ends).
type QMPClient struct {
	path    string
	mon     *qmp.SocketMonitor
	version string

	done      chan struct{} // closed when the connection has ended
	doneOnce  sync.Once
	closeOnce sync.Once
	closeErr  error

	mu           sync.Mutex
	subs         map[chan QMPEvent]struct{}
	lastShutdown *QMPEvent
	dropped      int
	ended        bool // the reader has stopped; no more events
}

// DialQMP connects to the QMP socket at path and completes the capabilities
// handshake. While the socket does not exist yet or refuses connections
// (QEMU still starting) it retries until ctx ends.
func DialQMP(ctx context.Context, path string) (*QMPClient, error) {
	for {
		c, err := dialQMPOnce(ctx, path)
		if err == nil {
			return c, nil
		}
		if !retryableDial(err) {
			return nil, fmt.Errorf("QMP %s: %w", path, err)
		}
		t := time.NewTimer(qmpDialRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("QMP %s: not available (%v): %w", path, err, ctx.Err())
		case <-t.C:
		}
	}
}

// retryableDial reports whether a dial error means "not there yet".
func retryableDial(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)
}

func dialQMPOnce(ctx context.Context, path string) (*QMPClient, error) {
	timeout := qmpDialTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout <= 0 {
		return nil, context.DeadlineExceeded
	}
	mon, err := qmp.NewSocketMonitor("unix", path, timeout)
	if err != nil {
		return nil, err
	}
	// go-qemu's Connect has no deadline: it waits for QEMU's greeting, which
	// never comes while another client holds the monitor. Run it aside; if
	// ctx ends first, the goroutine disconnects once Connect returns (when
	// the other client leaves or QEMU exits).
	connected := make(chan error) // unbuffered: an abandoned handshake is not collected
	abandoned := make(chan struct{})
	go func() {
		err := mon.Connect()
		select {
		case connected <- err:
		case <-abandoned:
			if err == nil {
				_ = mon.Disconnect()
			}
		}
	}()
	select {
	case err := <-connected:
		if err != nil {
			return nil, fmt.Errorf("QMP handshake: %w", err)
		}
	case <-ctx.Done():
		close(abandoned)
		// Connect may have finished just now; collect it so nothing leaks.
		select {
		case err := <-connected:
			if err == nil {
				_ = mon.Disconnect()
			}
		default:
		}
		return nil, fmt.Errorf("QMP handshake (is another client connected?): %w", ctx.Err())
	}

	events, err := mon.Events(context.Background())
	if err != nil {
		_ = mon.Disconnect()
		return nil, fmt.Errorf("QMP events: %w", err)
	}
	c := &QMPClient{
		path: path,
		mon:  mon,
		done: make(chan struct{}),
		subs: map[chan QMPEvent]struct{}{},
	}
	if mon.Version != nil {
		c.version = mon.Version.String()
	}
	go c.pump(events)
	return c, nil
}

// pump drains go-qemu's event channel (its reader blocks while an event is
// not taken) and fans events out to subscribers without ever blocking.
func (c *QMPClient) pump(events <-chan qmp.Event) {
	for e := range events {
		ev := QMPEvent{
			Name: e.Event,
			Data: e.Data,
			Time: time.Unix(e.Timestamp.Seconds, e.Timestamp.Microseconds*1000),
		}
		c.mu.Lock()
		if ev.Name == QMPEventShutdown {
			c.lastShutdown = &ev
		}
		for ch := range c.subs {
			select {
			case ch <- ev:
			default:
				c.dropped++
			}
		}
		c.mu.Unlock()
	}
	// The reader has ended: QEMU closed the socket or Close was called.
	c.mu.Lock()
	c.ended = true
	for ch := range c.subs {
		close(ch)
		delete(c.subs, ch)
	}
	c.mu.Unlock()
	c.doneOnce.Do(func() { close(c.done) })
	_ = c.disconnect()
}

// Path returns the socket path.
func (c *QMPClient) Path() string { return c.path }

// Version returns QEMU's version from the QMP greeting ("7.2.22").
func (c *QMPClient) Version() string { return c.version }

// Done is closed when the connection has ended.
func (c *QMPClient) Done() <-chan struct{} { return c.done }

// Subscribe returns a channel of QMP events (buffered, size buffer) and a
// function that ends the subscription. Events that do not fit the buffer
// are dropped rather than stalling the connection. The channel is closed
// when the connection ends or cancel is called.
func (c *QMPClient) Subscribe(buffer int) (events <-chan QMPEvent, cancel func()) {
	ch := make(chan QMPEvent, max(buffer, 1))
	c.mu.Lock()
	if c.ended {
		close(ch)
		c.mu.Unlock()
		return ch, func() {}
	}
	c.subs[ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.subs[ch]; ok {
			delete(c.subs, ch)
			close(ch)
		}
	}
}

// DroppedEvents counts events a full subscriber channel did not take.
func (c *QMPClient) DroppedEvents() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}

// LastShutdown returns the most recent SHUTDOWN event, if one was seen.
// Its data says why QEMU is exiting: {"guest": bool, "reason": "guest-shutdown"|"host-qmp-quit"|"host-signal"|…}.
func (c *QMPClient) LastShutdown() (QMPEvent, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastShutdown == nil {
		return QMPEvent{}, false
	}
	return *c.lastShutdown, true
}

// Run executes a QMP command and returns its "return" value. If ctx ends
// before QEMU answers, the connection is closed (QMP has no way to cancel
// a command) and the error wraps ctx.Err().
func (c *QMPClient) Run(ctx context.Context, command string, args any) (json.RawMessage, error) {
	select {
	case <-c.done:
		return nil, fmt.Errorf("QMP %s: %w", command, ErrQMPClosed)
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("QMP %s: %w", command, err)
	}
	cmd, err := json.Marshal(qmp.Command{Execute: command, Args: args})
	if err != nil {
		return nil, fmt.Errorf("QMP %s: %w", command, err)
	}
	type result struct {
		out []byte
		err error
	}
	res := make(chan result, 1)
	go func() {
		out, err := c.mon.Run(cmd)
		res <- result{out, err}
	}()
	select {
	case r := <-res:
		if r.err != nil {
			if connectionLost(r.err) {
				// go-qemu reports a closed connection as a bad answer;
				// confirm by waiting (briefly) for the reader to end.
				t := time.NewTimer(time.Second)
				defer t.Stop()
				select {
				case <-c.done:
					return nil, fmt.Errorf("QMP %s: %w", command, ErrQMPClosed)
				case <-t.C:
				}
			}
			return nil, fmt.Errorf("QMP %s: %w", command, r.err)
		}
		var resp struct {
			Return json.RawMessage `json:"return"`
		}
		if err := json.Unmarshal(r.out, &resp); err != nil {
			return nil, fmt.Errorf("QMP %s: bad answer: %w", command, err)
		}
		return resp.Return, nil
	case <-ctx.Done():
		_ = c.Close()
		return nil, fmt.Errorf("QMP %s: no answer: %w", command, ctx.Err())
	}
}

// Powerdown asks the guest to shut down (ACPI power button). The guest may
// ignore it; QEMU keeps running until the guest powers off.
func (c *QMPClient) Powerdown(ctx context.Context) error {
	_, err := c.Run(ctx, "system_powerdown", nil)
	return err
}

// Quit makes QEMU exit at once, without the guest's cooperation (disk
// caches are flushed). The connection closes as QEMU exits; losing it after
// the command was sent is not an error.
func (c *QMPClient) Quit(ctx context.Context) error {
	select {
	case <-c.done:
		return fmt.Errorf("QMP quit: %w", ErrQMPClosed)
	default:
	}
	_, err := c.Run(ctx, "quit", nil)
	if err != nil && errors.Is(err, ErrQMPClosed) && ctx.Err() == nil {
		return nil
	}
	return err
}

// Status runs query-status.
func (c *QMPClient) Status(ctx context.Context) (QMPStatus, error) {
	raw, err := c.Run(ctx, "query-status", nil)
	if err != nil {
		return QMPStatus{}, err
	}
	var s QMPStatus
	if err := json.Unmarshal(raw, &s); err != nil {
		return QMPStatus{}, fmt.Errorf("QMP query-status: %w", err)
	}
	return s, nil
}

// Close ends the connection; QEMU keeps running. It waits until go-qemu's
// reader has stopped.
func (c *QMPClient) Close() error {
	err := c.disconnect()
	<-c.done
	return err
}

// disconnect closes the socket once; go-qemu's Disconnect returns after its
// reader has ended.
func (c *QMPClient) disconnect() error {
	c.closeOnce.Do(func() {
		err := c.mon.Disconnect()
		if err != nil && !errors.Is(err, net.ErrClosed) {
			c.closeErr = fmt.Errorf("QMP close: %w", err)
		}
	})
	return c.closeErr
}

// connectionLost reports whether a go-qemu error means the socket is gone
// rather than QEMU refusing the command.
func connectionLost(err error) bool {
	var syn *json.SyntaxError
	var ne net.Error
	return errors.As(err, &syn) || errors.As(err, &ne) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
