package standin

import (
	"fmt"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// call is one request sent to a worker, as its client waits for it.
type call struct {
	id    uint64
	s     *workerSession
	k     int64 // the coefficient the request was sent with
	start time.Time

	notify chan struct{} // a non-blocking "something arrived"

	mu     sync.Mutex
	chunks []Chunk
	ended  bool
	done   *Done
	adj    worker.Adjusted // the proxy's accounting of done
	err    error           // the request failed at the proxy
}

func newCall(id uint64, s *workerSession, k int64, start time.Time) *call {
	return &call{id: id, s: s, k: k, start: start, notify: make(chan struct{}, 1)}
}

func (c *call) wake() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// push queues a chunk for the client.
func (c *call) push(ch Chunk) {
	c.mu.Lock()
	if !c.ended {
		c.chunks = append(c.chunks, ch)
	}
	c.mu.Unlock()
	c.wake()
}

// finish ends the call with the worker's Done (and the proxy's accounting
// of it), or with err.
func (c *call) finish(d *Done, adj worker.Adjusted, err error) {
	c.mu.Lock()
	if !c.ended {
		c.ended, c.done, c.adj, c.err = true, d, adj, err
	}
	c.mu.Unlock()
	c.wake()
}

// take returns the chunks that arrived since the last take and, once the
// call ended, how.
func (c *call) take() (chunks []Chunk, ended bool, d *Done, adj worker.Adjusted, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	chunks, c.chunks = c.chunks, nil
	return chunks, c.ended, c.done, c.adj, c.err
}

// candidate is what routing knows of a worker.
type candidate struct {
	enabled     bool
	coefficient int64
	running     int
	maxActive   int
	avg         time.Duration
}

// pickWorker returns the index of the worker to route a request to, or
// −1: among the enabled workers with coefficient ≤ maxCoef and a free
// slot (running < maxActive), the one with the lowest load = running ×
// average request time (§8.2), ties broken by fewest running requests,
// then by position (the longest connected).
func pickWorker(cs []candidate, maxCoef int64) int {
	best := -1
	var bestLoad time.Duration
	for i, c := range cs {
		if !c.enabled || c.coefficient > maxCoef || c.running >= c.maxActive {
			continue
		}
		load := time.Duration(c.running) * c.avg
		if best < 0 || load < bestLoad || load == bestLoad && c.running < cs[best].running {
			best, bestLoad = i, load
		}
	}
	return best
}

// noWorkerError says why no worker could take a request.
type noWorkerError struct {
	connected, enabled, cheap, free int
	maxCoef                         int64
}

func (e *noWorkerError) Error() string {
	switch {
	case e.connected == 0:
		return "no worker is connected to the stand-in proxy; start dev mode's worker and wait until it is ready"
	case e.enabled == 0:
		return fmt.Sprintf("no worker available: all %d connected workers are disabled (paused)", e.connected)
	case e.cheap == 0:
		return fmt.Sprintf("no worker available: no enabled worker has a coefficient ≤ max_coefficient %d; raise max_coefficient", e.maxCoef)
	default:
		return fmt.Sprintf("no worker available: all %d eligible workers are busy (max active requests reached); retry later", e.cheap)
	}
}

// dispatch routes a request (Coefficient set here) to a worker, skipping
// those in skip, and sends it.
func (p *Proxy) dispatch(req Request, maxCoef int64, skip map[*workerSession]bool) (*call, error) {
	for {
		p.mu.Lock()
		cs := make([]candidate, len(p.sessions))
		ne := &noWorkerError{connected: len(p.sessions), maxCoef: maxCoef}
		for i, s := range p.sessions {
			cs[i] = candidate{enabled: s.enabled && s.routable && !skip[s], coefficient: s.coefficient,
				running: s.running, maxActive: s.maxActive, avg: s.avg}
			if s.enabled {
				ne.enabled++
				if s.coefficient <= maxCoef {
					ne.cheap++
					if s.running < s.maxActive {
						ne.free++
					}
				}
			}
		}
		i := pickWorker(cs, maxCoef)
		if i < 0 {
			p.mu.Unlock()
			return nil, ne
		}
		s := p.sessions[i]
		s.running++
		p.nextID++
		c := newCall(p.nextID, s, s.coefficient, p.now())
		p.mu.Unlock()

		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			p.mu.Lock()
			s.running--
			p.mu.Unlock()
			skip[s] = true
			continue
		}
		s.pending[c.id] = c
		s.mu.Unlock()
		req.Coefficient = c.k
		// If the session is closing, its close fails this call.
		s.enqueue(&Message{Type: TypeRequest, ID: c.id, Request: &req})
		return c, nil
	}
}
