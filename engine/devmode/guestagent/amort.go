package main

import (
	"math"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// amortWindow is the time constant in seconds of decayed sum i, the
// worker.Window at array index i+1 (interface spec §6.4): 1 s, 10 s,
// 1 min, 10 min, 1 h, 1 day.
func amortWindow(i int) float64 { return worker.Window(i + 1).Duration().Seconds() }

// amortCounter mirrors the worker's AmortCounterList: a cumulative total
// and six exponentially decayed sums. The zero value is an empty counter.
// It is not safe for concurrent use; workerState guards it.
type amortCounter struct {
	total   float64
	decayed [6]float64
	at      time.Time
}

func (c *amortCounter) relax(now time.Time) {
	if !c.at.IsZero() {
		dt := now.Sub(c.at).Seconds()
		if dt > 0 {
			for i := range c.decayed {
				c.decayed[i] *= math.Exp(-dt / amortWindow(i))
			}
		}
	}
	if now.After(c.at) {
		c.at = now
	}
}

// Add counts v at time now.
func (c *amortCounter) Add(now time.Time, v float64) {
	c.relax(now)
	c.total += v
	for i := range c.decayed {
		c.decayed[i] += v
	}
}

// Values is the /jsonstats array [total, r1s, r10s, r1m, r10m, r1h, r1d]:
// each rate is the decayed sum divided by its window, i.e. per second.
func (c *amortCounter) Values(now time.Time) worker.AmortCounter {
	c.relax(now)
	out := worker.AmortCounter{c.total}
	for i := range c.decayed {
		out[i+1] = c.decayed[i] / amortWindow(i)
	}
	return out
}
