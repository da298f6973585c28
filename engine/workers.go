package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// errNoStore: a control needs the database, which could not be opened.
var errNoStore = errors.New("the database is not open; see the error above (`cocoon-provider doctor` checks the data directory)")

// SetPause stores the pause and tells every worker now.
func (s *Service) SetPause(ctx context.Context, p *Pause) error {
	if p != nil && p.Auto {
		cp := *p
		cp.Auto = false // a pause asked for through the API is the user's
		p = &cp
	}
	return s.setPause(ctx, p)
}

// setPause stores p and tells every worker now.
func (s *Service) setPause(ctx context.Context, p *Pause) error {
	db := s.currentStore()
	if db == nil {
		return errNoStore
	}
	res, err := SetPause(ctx, s.opts.DataDir, db, p)
	s.publishPause(p)
	for _, r := range res {
		if r.Err != nil {
			s.log.Warn("pause/resume did not reach a worker; it is retried at the next poll", "worker", r.Target.Label, "error", r.Err)
		}
	}
	return err
}

// Payout asks every worker to pay out what is claimable.
func (s *Service) Payout(ctx context.Context) ([]TargetResult, error) {
	db := s.currentStore()
	if db == nil {
		return nil, errNoStore
	}
	res, err := Payout(ctx, s.opts.DataDir, db)
	for _, r := range res {
		if r.Proxy != "" && r.Err == nil {
			s.recordEvent("payout.requested", fmt.Sprintf("payout requested: %d tokens (%d nanoTON) from proxy %s", r.Tokens, r.Amount, r.Proxy),
				map[string]any{"instance": r.Target.Instance, "proxy": r.Proxy, "tokens": r.Tokens, "nanoton": r.Amount})
		}
	}
	return res, err
}

// publishPause puts p into State (and an event) when it changed.
func (s *Service) publishPause(p *Pause) {
	cur := s.State().Pause
	if (cur == nil) == (p == nil) && (cur == nil || (cur.Until.Equal(p.Until) && cur.Auto == p.Auto && cur.Reason == p.Reason)) {
		return
	}
	msg := "workers resumed"
	switch {
	case p == nil:
		if cur != nil && cur.Auto {
			msg = "workers resumed automatically"
		}
	case p.Auto:
		msg = "workers paused automatically: " + p.Reason
	case p.Reason != "" && p.Indefinite():
		msg = "workers paused until resumed: " + p.Reason
	case p.Indefinite():
		msg = "workers paused until resumed"
	default:
		msg = "workers paused until " + p.Until.Local().Format("Mon 15:04")
	}
	s.update(EventPause, msg, func(st *State) { st.Pause = p })
	s.recordEvent("worker.pause", msg, nil)
}

// syncPause reads the stored pause (the CLI may have changed it), ends a
// timed pause that has expired, and publishes the result.
func (s *Service) syncPause(ctx context.Context) {
	db := s.currentStore()
	if db == nil {
		return
	}
	p, err := ReadPause(ctx, db)
	if err != nil {
		s.log.Warn("read pause", "error", err)
		return
	}
	if p != nil && p.Expired(s.opts.Now()) {
		if err := writePause(ctx, db, nil); err != nil {
			s.log.Warn("end timed pause", "error", err)
			return
		}
		p = nil
	}
	s.publishPause(p)
}

// applyPause brings one worker in line with the pause: disabled while
// paused, enabled otherwise. It acts only when the worker's state is
// unknown or differs: on first contact (an adopted VM may still be
// disabled by a pause that has since ended) and after the worker
// restarted (enabled again).
func (s *Service) applyPause(ctx context.Context, c *worker.Client, m *monitor, act *worker.Activity) {
	if act != nil && act.Restarted {
		m.pauseKnown = false
	}
	want := s.State().Pause != nil
	if m.pauseKnown && m.pauseApplied == want {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	var err error
	if want {
		err = c.Disable(cctx)
	} else {
		err = c.Enable(cctx)
	}
	if err != nil {
		s.log.Warn("apply pause to worker", "instance", m.instance, "paused", want, "error", err)
		return
	}
	m.pauseKnown, m.pauseApplied = true, want
}

// runAttached polls the attached official workers, picking up attach and
// detach from the settings every few seconds.
func (s *Service) runAttached(ctx context.Context) {
	running := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	defer func() {
		for _, c := range running {
			c()
		}
		wg.Wait()
	}()
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	for {
		if db := s.currentStore(); db != nil {
			list, err := ReadAttached(ctx, db)
			if err != nil {
				s.log.Warn("read attached workers", "error", err)
			}
			seen := map[string]bool{}
			for _, a := range list {
				seen[a.StatsURL] = true
				if running[a.StatsURL] == nil {
					actx, cancel := context.WithCancel(ctx)
					running[a.StatsURL] = cancel
					wg.Add(1)
					go func() { defer wg.Done(); s.pollAttached(actx, a) }()
				}
			}
			for url, cancel := range running {
				if !seen[url] {
					cancel()
					delete(running, url)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// pollAttached reads an attached worker's /jsonstats like pollDev does for
// a launched one, with the same activity, earnings and pause handling.
func (s *Service) pollAttached(ctx context.Context, a Attached) {
	client := worker.NewClient((&net.Dialer{}).DialContext, a.StatsAddr())
	m := &monitor{instance: a.Instance, settleEvery: s.opts.SettleInterval}
	base := Instance{Number: int(a.Instance), State: vm.StateBooting, StatsAddr: a.StatsAddr(), Image: "official worker (attached)", Since: a.Added}
	s.setAttached(base, fmt.Sprintf("monitoring the worker at %s", a.StatsURL))
	defer func() {
		s.forgetMonitor(m)
		s.dropAttached(a.Instance)
	}()
	wait := time.Duration(0)
	cur := vm.StateBooting
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		st, err := client.Stats(qctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if cur == vm.StateBooting {
			cur = vm.StateDegraded // backoff applies from the first failure on
		}
		wait = nextPoll(cur, err, wait)
		inst := base
		if err != nil {
			m.pauseKnown = false
			inst.State, inst.StatsError = vm.StateDegraded, err.Error()
			msg := ""
			if cur == vm.StateRunning {
				msg = fmt.Sprintf("the attached worker at %s stopped answering: %v", a.StatsURL, err)
			}
			cur = vm.StateDegraded
			s.setAttached(inst, msg)
			continue
		}
		act := s.observe(ctx, m, s.opts.Now(), st, false)
		s.applyPause(ctx, client, m, act)
		trust := s.checkTrust(ctx, m, st, "", nil)
		msg := ""
		if cur != vm.StateRunning {
			msg = fmt.Sprintf("the attached worker at %s answers", a.StatsURL)
		}
		cur = vm.StateRunning
		inst.State, inst.Stats, inst.Activity, inst.Trust = cur, &st, act, trust
		if act == nil {
			if old := s.attached(a.Instance); old != nil {
				inst.Activity = old.Activity
			}
		}
		s.setAttached(inst, msg)
	}
}

func (s *Service) attached(n int64) *Instance {
	for _, in := range s.State().Attached {
		if int64(in.Number) == n {
			return &in
		}
	}
	return nil
}

// setAttached replaces (or adds) attached instance inst in State.
func (s *Service) setAttached(inst Instance, msg string) {
	s.update(EventInstance, msg, func(st *State) {
		out := make([]Instance, 0, len(st.Attached)+1)
		done := false
		for _, in := range st.Attached {
			if in.Number == inst.Number {
				in, done = inst, true
			}
			out = append(out, in)
		}
		if !done {
			out = append(out, inst)
		}
		st.Attached = out
	})
}

func (s *Service) dropAttached(n int64) {
	s.update(EventInstance, "", func(st *State) {
		out := make([]Instance, 0, len(st.Attached))
		for _, in := range st.Attached {
			if int64(in.Number) != n {
				out = append(out, in)
			}
		}
		st.Attached = out
	})
}
