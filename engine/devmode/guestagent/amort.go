package main

import (
	"math"
	"time"
)

// amortWindows are the AmortCounter time constants in seconds (interface
// spec §6.4): 1 s, 10 s, 1 min, 10 min, 1 h, 1 day.
var amortWindows = [6]float64{1, 10, 60, 600, 3600, 86400}

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
			for i, w := range amortWindows {
				c.decayed[i] *= math.Exp(-dt / w)
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
func (c *amortCounter) Values(now time.Time) [7]float64 {
	c.relax(now)
	out := [7]float64{c.total}
	for i, w := range amortWindows {
		out[i+1] = c.decayed[i] / w
	}
	return out
}
