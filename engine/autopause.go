package engine

import (
	"context"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
)

// Reasons of automatic pauses.
const (
	ReasonHot             = "GPU too hot"
	ReasonOutsideSchedule = "outside the schedule"
	// autoCoolFor is how long every GPU must stay at or below
	// Settings.ResumeBelowC before a heat pause ends.
	autoCoolFor = 60 * time.Second
)

// autopause decides the automatic pause: for a hot GPU
// (Settings.PauseAboveC) and outside the schedule. It is pure: no I/O,
// no clock of its own. It acts on transitions only (the automatic cause
// starts, ends or changes), so a pause or resume by the user wins until
// the next transition; and it never ends a pause the user set.
type autopause struct {
	// known says whether the last decision was made; until then any
	// state is a transition (also one left from before a restart).
	known bool
	// reason is the automatic cause at the last step; "" is none.
	reason string
	// hot: a GPU reached PauseAboveC and the GPUs have not yet stayed
	// cool for autoCoolFor; coolSince is when they went cool.
	hot       bool
	coolSince time.Time
}

// step takes the settings, the GPU temperatures read now (°C; empty when
// none could be read), the current pause and the time now (in the local
// time the schedule means). It returns whether to change the pause and
// the pause to set (nil resumes).
func (a *autopause) step(set Settings, temps []int, cur *Pause, now time.Time) (change bool, p *Pause) {
	a.observeHeat(set, temps, now)
	reason := ""
	switch {
	case a.hot:
		reason = ReasonHot
	case set.Schedule != nil && !set.Schedule.Inside(now):
		reason = ReasonOutsideSchedule
	}
	if a.known && reason == a.reason {
		return false, nil // no transition: leave the pause to the user
	}
	a.known, a.reason = true, reason
	switch {
	case reason == "" && cur != nil && cur.Auto:
		return true, nil
	case reason != "" && cur == nil:
		return true, &Pause{Auto: true, Reason: reason}
	case reason != "" && cur.Auto && cur.Reason != reason:
		return true, &Pause{Auto: true, Reason: reason}
	}
	return false, nil
}

// observeHeat follows the GPUs' temperatures: hot from a reading at or
// above PauseAboveC until all readings stayed at or below ResumeBelowC
// for autoCoolFor. Without readings nothing changes (no clock runs).
func (a *autopause) observeHeat(set Settings, temps []int, now time.Time) {
	if set.PauseAboveC <= 0 {
		a.hot, a.coolSince = false, time.Time{}
		return
	}
	if len(temps) == 0 {
		a.coolSince = time.Time{}
		return
	}
	hottest := temps[0]
	for _, t := range temps[1:] {
		hottest = max(hottest, t)
	}
	switch {
	case hottest >= set.PauseAboveC:
		a.hot, a.coolSince = true, time.Time{}
	case !a.hot:
	case hottest > set.ResumeBelowC:
		a.coolSince = time.Time{}
	case a.coolSince.IsZero():
		a.coolSince = now
		fallthrough
	default:
		if now.Sub(a.coolSince) >= autoCoolFor {
			a.hot, a.coolSince = false, time.Time{}
		}
	}
}

// gpuTemps lists the temperatures inv read.
func gpuTemps(inv gpu.Inventory) []int {
	var out []int
	for _, g := range inv.GPUs {
		if g.TemperatureC != nil {
			out = append(out, int(*g.TemperatureC))
		}
	}
	return out
}

// autoPause runs one step of the automatic pause with the last GPU
// sample; Run calls it every sample.
func (s *Service) autoPause(ctx context.Context) {
	st := s.State()
	change, p := s.auto.step(s.currentSettings(), gpuTemps(st.GPUs), st.Pause, s.opts.Now())
	if !change {
		return
	}
	if err := s.setPause(ctx, p); err != nil {
		s.log.Warn("automatic pause", "paused", p != nil, "error", err)
		s.auto.known = false // try again at the next sample
	}
}
