package engine

import (
	"context"
	"fmt"
	"math"
	"os"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
)

// Reasons of automatic pauses; a busy GPU and a high power draw have
// reasons that name the GPU (ReasonGPUBusy, ReasonPowerHigh).
const (
	ReasonHot             = "GPU too hot"
	ReasonOutsideSchedule = "outside the schedule"
	// ReasonUserActive: Settings.IdleAfterMin is set and someone used
	// the computer less than that long ago.
	ReasonUserActive = "you are using the computer"
	// autoCoolFor is how long every GPU must stay at or below
	// Settings.ResumeBelowC before a heat pause ends.
	autoCoolFor = 60 * time.Second
	// autoPowerLowFor is the same for Settings.ResumeBelowW.
	autoPowerLowFor = 60 * time.Second
	// autoBusyGoneFor is how long no other program may run on a GPU in
	// use before a busy pause ends.
	autoBusyGoneFor = 60 * time.Second
)

// The translation keys of the pauses' reasons (Pause.ReasonKey), with
// the names of the values each embeds (Pause.ReasonArgs).
const (
	ReasonKeyHot             = "pause.hot"
	ReasonKeyOutsideSchedule = "pause.outside_schedule"
	ReasonKeyUserActive      = "pause.user_active"
	// ReasonKeyGPUBusy: GPU, PID.
	ReasonKeyGPUBusy = "pause.gpu_busy"
	// ReasonKeyGPUBusyNamed: GPU, PID, Program.
	ReasonKeyGPUBusyNamed = "pause.gpu_busy_named"
	// ReasonKeyPowerHigh: GPU, Watts, Limit.
	ReasonKeyPowerHigh = "pause.power_high"
)

// ReasonKeys are the keys of every reason, for the user interface's
// translations to cover.
var ReasonKeys = []string{ReasonKeyHot, ReasonKeyOutsideSchedule, ReasonKeyUserActive, ReasonKeyGPUBusy, ReasonKeyGPUBusyNamed, ReasonKeyPowerHigh}

// ReasonGPUBusy is the reason of a pause for another program on a GPU:
// "another program uses GPU 0 (pid 1234, game)".
func ReasonGPUBusy(index int, p gpu.Process) string { return gpuBusy(index, p).text }

func gpuBusy(index int, p gpu.Process) autoReason {
	args := map[string]string{"GPU": strconv.Itoa(index), "PID": strconv.FormatUint(uint64(p.PID), 10)}
	if p.Name == "" {
		return autoReason{fmt.Sprintf("another program uses GPU %d (pid %d)", index, p.PID), ReasonKeyGPUBusy, args}
	}
	args["Program"] = path.Base(p.Name)
	return autoReason{fmt.Sprintf("another program uses GPU %d (pid %d, %s)", index, p.PID, path.Base(p.Name)), ReasonKeyGPUBusyNamed, args}
}

// ReasonPowerHigh is the reason of a pause for a GPU's power draw:
// "GPU 1 draws 420 W, above 400 W".
func ReasonPowerHigh(index int, watts float64, limitW int) string {
	return powerHigh(index, watts, limitW).text
}

func powerHigh(index int, watts float64, limitW int) autoReason {
	return autoReason{fmt.Sprintf("GPU %d draws %.0f W, above %d W", index, watts, limitW), ReasonKeyPowerHigh,
		map[string]string{"GPU": strconv.Itoa(index), "Watts": strconv.FormatFloat(watts, 'f', 0, 64), "Limit": strconv.Itoa(limitW)}}
}

// autoReason is the cause of an automatic pause: its English text and
// its translation key with the values it embeds.
type autoReason struct {
	text string
	key  string
	args map[string]string
}

// pause is the automatic pause for the reason.
func (r autoReason) pause() *Pause {
	return &Pause{Auto: true, Reason: r.text, ReasonKey: r.key, ReasonArgs: r.args}
}

// autoInputs are what one step of the automatic pause looks at. The
// readings are of the GPUs in use (Settings.GPUs) only.
type autoInputs struct {
	// temps are the GPUs' temperatures (°C); empty when none was read.
	temps []int
	// power are the GPUs' power draws; empty when none was read.
	power []gpuWatts
	// idle is the user's activity; read only while Settings.IdleAfterMin
	// is set (else the zero value: unknown).
	idle IdleState
	// foreign are the programs other than ours on the GPUs, sorted by
	// GPU and PID; busyKnown says whether they could be listed.
	foreign   []gpuProcess
	busyKnown bool
}

// gpuWatts is one GPU's power draw, by NVML index.
type gpuWatts struct {
	index int
	watts float64
}

// gpuProcess is a process on a GPU, by NVML index.
type gpuProcess struct {
	index int
	proc  gpu.Process
}

// hysteresis is a switch with two thresholds: on from a reading at or
// above the upper one until every reading stayed at or below the lower
// one for a hold time. Without readings it stays as it is, and the hold
// time starts over.
type hysteresis struct {
	on        bool
	calmSince time.Time
}

// observe takes the highest reading now (have is false when there is
// none) and reports whether the switch turned on at this step. Off
// (enabled false) resets it.
func (h *hysteresis) observe(enabled bool, peak float64, have bool, upper, lower float64, hold time.Duration, now time.Time) (turnedOn bool) {
	if !enabled {
		*h = hysteresis{}
		return false
	}
	if !have {
		h.calmSince = time.Time{}
		return false
	}
	switch {
	case peak >= upper:
		turnedOn = !h.on
		h.on, h.calmSince = true, time.Time{}
	case !h.on:
	case peak > lower:
		h.calmSince = time.Time{}
	case h.calmSince.IsZero():
		h.calmSince = now
		fallthrough
	default:
		if now.Sub(h.calmSince) >= hold {
			h.on, h.calmSince = false, time.Time{}
		}
	}
	return turnedOn
}

// autopause decides the automatic pause: for a hot GPU
// (Settings.PauseAboveC), a GPU drawing too much power
// (Settings.PauseAboveW), another program on a GPU
// (Settings.PauseWhenGPUBusy), a user at the computer
// (Settings.IdleAfterMin) and outside the schedule, in that order. Its
// step is pure: no I/O, no clock of its own. It acts on transitions only
// (the automatic cause starts, ends or changes), so a pause or resume by
// the user wins until the next transition; and it never ends a pause the
// user set.
type autopause struct {
	// known says whether the last decision was made; until then any
	// state is a transition (also one left from before a restart).
	known bool
	// reason is the automatic cause at the last step; "" is none.
	reason string
	// heat, power and busy follow the temperatures, the power draws and
	// the other programs on the GPUs.
	heat, power, busy hysteresis
	// powerReason and busyReason say which GPU set power or busy on.
	powerReason, busyReason autoReason

	// The sources Service.autoPause reads (Run's goroutine only); nil
	// ones are set to the host's on first use. Tests set them first.
	idleSource IdleSource
	procSource processSource
	// idleWhy is the last reason idle detection was unavailable, told
	// once per change.
	idleWhy string
}

// processSource lists the processes on the GPUs; *gpu.Scanner is one.
type processSource interface {
	Processes(ctx context.Context) ([]gpu.GPUProcesses, error)
}

var _ processSource = (*gpu.Scanner)(nil)

// step takes the settings, the readings, the current pause and the time
// now (in the local time the schedule means). It returns whether to
// change the pause and the pause to set (nil resumes).
func (a *autopause) step(set Settings, in autoInputs, cur *Pause, now time.Time) (change bool, p *Pause) {
	hottest, haveTemp := peak(in.temps, func(t int) float64 { return float64(t) })
	a.heat.observe(set.PauseAboveC > 0, hottest, haveTemp, float64(set.PauseAboveC), float64(set.ResumeBelowC), autoCoolFor, now)
	maxW, haveW := peak(in.power, func(w gpuWatts) float64 { return w.watts })
	if a.power.observe(set.PauseAboveW > 0, maxW, haveW, float64(set.PauseAboveW), float64(set.ResumeBelowW), autoPowerLowFor, now) {
		i := slices.IndexFunc(in.power, func(w gpuWatts) bool { return w.watts == maxW })
		a.powerReason = powerHigh(in.power[i].index, maxW, set.PauseAboveW)
	}
	a.busy.observe(set.PauseWhenGPUBusy, float64(len(in.foreign)), in.busyKnown, 1, 0, autoBusyGoneFor, now)
	if len(in.foreign) > 0 && a.busy.on {
		a.busyReason = gpuBusy(in.foreign[0].index, in.foreign[0].proc)
	}
	var r autoReason
	switch {
	case a.heat.on:
		r = autoReason{text: ReasonHot, key: ReasonKeyHot}
	case a.power.on:
		r = a.powerReason
	case a.busy.on:
		r = a.busyReason
	case set.IdleAfterMin > 0 && in.idle.Known && in.idle.idleFor(now) < time.Duration(set.IdleAfterMin)*time.Minute:
		r = autoReason{text: ReasonUserActive, key: ReasonKeyUserActive}
	case set.Schedule != nil && !set.Schedule.Inside(now):
		r = autoReason{text: ReasonOutsideSchedule, key: ReasonKeyOutsideSchedule}
	}
	reason := r.text
	if a.known && reason == a.reason {
		return false, nil // no transition: leave the pause to the user
	}
	a.known, a.reason = true, reason
	switch {
	case reason == "" && cur != nil && cur.Auto:
		return true, nil
	case reason != "" && cur == nil:
		return true, r.pause()
	case reason != "" && cur.Auto && cur.Reason != reason:
		return true, r.pause()
	}
	return false, nil
}

// peak returns the highest of xs by value; ok is false when xs is empty.
func peak[T any](xs []T, value func(T) float64) (top float64, ok bool) {
	top = math.Inf(-1)
	for _, x := range xs {
		top = max(top, value(x))
	}
	return top, len(xs) > 0
}

// gpuReadings lists the temperatures and power draws inv read of the
// GPUs set uses.
func gpuReadings(inv gpu.Inventory, set Settings) (temps []int, power []gpuWatts) {
	for _, g := range inv.GPUs {
		if !set.UsesGPU(g.Key()) {
			continue
		}
		if g.TemperatureC != nil {
			temps = append(temps, int(*g.TemperatureC))
		}
		if g.PowerDrawW != nil && g.Index != nil {
			power = append(power, gpuWatts{index: *g.Index, watts: *g.PowerDrawW})
		}
	}
	return temps, power
}

// foreignProcesses are the processes on the GPUs set uses other than
// ours (ownPIDs), sorted by GPU index and PID.
func foreignProcesses(all []gpu.GPUProcesses, set Settings, ownPIDs map[uint32]bool) []gpuProcess {
	var out []gpuProcess
	for _, g := range all {
		if !set.UsesGPU(g.Key) {
			continue
		}
		for _, p := range g.Processes {
			if !ownPIDs[p.PID] {
				out = append(out, gpuProcess{index: g.Index, proc: p})
			}
		}
	}
	slices.SortFunc(out, func(a, b gpuProcess) int {
		if a.index != b.index {
			return a.index - b.index
		}
		return int(a.proc.PID) - int(b.proc.PID)
	})
	return out
}

// ownPIDs are the processes of ours that may use a GPU: this one and
// the QEMU of each worker VM.
func ownPIDs(st State) map[uint32]bool {
	pids := map[uint32]bool{uint32(os.Getpid()): true}
	add := func(in Instance) {
		for _, pid := range []int{in.PID, in.AppPID} {
			if pid > 0 {
				pids[uint32(pid)] = true
			}
		}
	}
	if st.Dev != nil {
		add(*st.Dev)
	}
	for _, in := range st.Attached {
		add(in)
	}
	return pids
}

// autoInputs reads what the step of the automatic pause needs: the last
// GPU sample, and the idle and process sources while the settings ask
// for them.
func (s *Service) autoInputs(ctx context.Context, set Settings, st State) autoInputs {
	var in autoInputs
	in.temps, in.power = gpuReadings(st.GPUs, set)
	if set.IdleAfterMin > 0 {
		if s.auto.idleSource == nil {
			s.auto.idleSource = newIdleSource(s.opts.Now)
		}
		in.idle = s.auto.idleSource.Idle(ctx)
		if !in.idle.Known && in.idle.Why != s.auto.idleWhy {
			s.log.Warn("run only when idle: the workers are not paused for activity", "reason", in.idle.Why)
			s.recordEvent("autopause.idle_unknown", in.idle.Why+"; the workers are not paused for activity", nil)
		}
		s.auto.idleWhy = in.idle.Why
	}
	if set.PauseWhenGPUBusy {
		if s.auto.procSource == nil {
			s.auto.procSource = s.scanner
		}
		all, err := s.auto.procSource.Processes(ctx)
		if err != nil {
			s.log.Warn("list the processes on the GPUs", "error", err)
		} else {
			in.foreign, in.busyKnown = foreignProcesses(all, set, ownPIDs(st)), all != nil
		}
	}
	return in
}

// autoPause runs one step of the automatic pause with the last GPU
// sample; Run calls it every sample.
func (s *Service) autoPause(ctx context.Context) {
	st := s.State()
	set := s.currentSettings()
	change, p := s.auto.step(set, s.autoInputs(ctx, set, st), st.Pause, s.opts.Now())
	if !change {
		return
	}
	if err := s.setPause(ctx, p); err != nil {
		s.log.Warn("automatic pause", "paused", p != nil, "error", err)
		s.auto.known = false // try again at the next sample
	}
}
