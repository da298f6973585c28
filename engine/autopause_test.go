package engine

import (
	"context"
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
)

func TestAutopause(t *testing.T) {
	heat := Settings{GPUTempLimitC: 85, PauseAboveC: 83, ResumeBelowC: 75}
	// Mon 23 Nov 2026; the schedule works Mon–Fri 22:00–06:00 (overnight).
	night := &Schedule{Days: [7]bool{false, true, true, true, true, true, false}, From: "22:00", To: "06:00"}
	sched := Settings{GPUTempLimitC: 85, Schedule: night}
	day := &Schedule{Days: [7]bool{true, true, true, true, true, true, true}, From: "08:00", To: "18:00"}
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) // a Monday
	auto := func(r string) *Pause { return &Pause{Auto: true, Reason: r} }
	user := &Pause{}

	type step struct {
		at    time.Duration // after t0
		temps []int
		cur   *Pause // the pause before the step
		set   *Settings
		// want: change says whether the pause is set; p is what.
		change bool
		p      *Pause
	}
	tests := []struct {
		name  string
		set   Settings
		steps []step
	}{
		{"off never pauses", Settings{GPUTempLimitC: 85}, []step{
			{0, []int{99}, nil, nil, false, nil},
		}},
		{"hot pauses, cooling waits for the margin and 60 s", heat, []step{
			{0, []int{60, 70}, nil, nil, false, nil},
			{1 * time.Second, []int{60, 83}, nil, nil, true, auto(ReasonHot)},
			{2 * time.Second, []int{60, 80}, auto(ReasonHot), nil, false, nil},  // under pause above, over resume below
			{3 * time.Second, []int{60, 75}, auto(ReasonHot), nil, false, nil},  // cool from now
			{62 * time.Second, []int{60, 74}, auto(ReasonHot), nil, false, nil}, // 59 s
			{63 * time.Second, []int{60, 74}, auto(ReasonHot), nil, true, nil},  // 60 s: resume
			{64 * time.Second, []int{60, 74}, nil, nil, false, nil},
		}},
		{"warming in between restarts the minute", heat, []step{
			{0, []int{90}, nil, nil, true, auto(ReasonHot)},
			{1 * time.Second, []int{70}, auto(ReasonHot), nil, false, nil},
			{40 * time.Second, []int{76}, auto(ReasonHot), nil, false, nil},
			{41 * time.Second, []int{70}, auto(ReasonHot), nil, false, nil},
			{100 * time.Second, []int{70}, auto(ReasonHot), nil, false, nil},
			{101 * time.Second, []int{70}, auto(ReasonHot), nil, true, nil},
		}},
		{"no readings keep the heat pause", heat, []step{
			{0, []int{90}, nil, nil, true, auto(ReasonHot)},
			{time.Second, nil, auto(ReasonHot), nil, false, nil},
			{5 * time.Minute, nil, auto(ReasonHot), nil, false, nil},
		}},
		{"a user pause is never overridden nor resumed", heat, []step{
			{0, []int{60}, user, nil, false, nil},
			{time.Second, []int{90}, user, nil, false, nil},
			{2 * time.Second, []int{60}, user, nil, false, nil},
			{5 * time.Minute, []int{60}, user, nil, false, nil},
		}},
		{"a user resume while hot lasts until the next transition", heat, []step{
			{0, []int{90}, nil, nil, true, auto(ReasonHot)},
			{time.Second, []int{90}, nil, nil, false, nil}, // the user resumed
			{2 * time.Second, []int{70}, nil, nil, false, nil},
			{2*time.Second + autoCoolFor, []int{70}, nil, nil, false, nil}, // heat over: nothing to resume
			{3*time.Second + autoCoolFor, []int{88}, nil, nil, true, auto(ReasonHot)},
		}},
		{"a user pause during a heat pause is kept after cooling", heat, []step{
			{0, []int{90}, nil, nil, true, auto(ReasonHot)},
			{time.Second, []int{70}, user, nil, false, nil},
			{2 * time.Minute, []int{70}, user, nil, false, nil},
		}},
		{"turning the heat pause off resumes", heat, []step{
			{0, []int{90}, nil, nil, true, auto(ReasonHot)},
			{time.Second, []int{90}, auto(ReasonHot), &Settings{GPUTempLimitC: 85}, true, nil},
		}},
		{"overnight schedule: outside by day, inside after 22:00 and before 06:00", sched, []step{
			{0, nil, nil, nil, true, auto(ReasonOutsideSchedule)},                           // Mon 12:00
			{10*time.Hour - time.Minute, nil, auto(ReasonOutsideSchedule), nil, false, nil}, // Mon 21:59
			{10 * time.Hour, nil, auto(ReasonOutsideSchedule), nil, true, nil},              // Mon 22:00
			{18*time.Hour - time.Minute, nil, nil, nil, false, nil},                         // Tue 05:59
			{18 * time.Hour, nil, nil, nil, true, auto(ReasonOutsideSchedule)},              // Tue 06:00
		}},
		{"overnight schedule: the morning after the last day, not the evening", sched, []step{
			{4*24*time.Hour + 11*time.Hour, nil, nil, nil, false, nil},                         // Fri 23:00 inside
			{4*24*time.Hour + 17*time.Hour, nil, nil, nil, false, nil},                         // Sat 05:00: Friday's night
			{4*24*time.Hour + 18*time.Hour, nil, nil, nil, true, auto(ReasonOutsideSchedule)},  // Sat 06:00
			{5*24*time.Hour + 10*time.Hour, nil, auto(ReasonOutsideSchedule), nil, false, nil}, // Sat 22:00: no Saturday
			{5*24*time.Hour + 17*time.Hour, nil, auto(ReasonOutsideSchedule), nil, false, nil}, // Sun 05:00
			{6*24*time.Hour + 17*time.Hour, nil, auto(ReasonOutsideSchedule), nil, false, nil}, // Mon 05:00: no Sunday
			{7*24*time.Hour + 10*time.Hour, nil, auto(ReasonOutsideSchedule), nil, true, nil},  // Mon 22:00
		}},
		{"user resume inside the schedule stays; the schedule's end pauses again", Settings{GPUTempLimitC: 85, Schedule: day}, []step{
			{-5 * time.Hour, nil, nil, nil, true, auto(ReasonOutsideSchedule)}, // 07:00
			{-4*time.Hour - 30*time.Minute, nil, nil, nil, false, nil},         // 07:30: the user resumed
			{-4 * time.Hour, nil, nil, nil, false, nil},                        // 08:00 inside: nothing to resume
			{time.Hour, nil, user, nil, false, nil},                            // the user paused inside: kept
			{6 * time.Hour, nil, user, nil, false, nil},                        // 18:00 outside: the user's pause stays
			{20 * time.Hour, nil, user, nil, false, nil},                       // 08:00 next day: never resumes the user's
		}},
		{"heat outranks the schedule, then hands over", Settings{GPUTempLimitC: 85, PauseAboveC: 83, ResumeBelowC: 75, Schedule: day}, []step{
			{0, []int{90}, nil, nil, true, auto(ReasonHot)},
			{time.Second, []int{70}, auto(ReasonHot), nil, false, nil},
			{6 * time.Hour, []int{70}, auto(ReasonHot), nil, true, auto(ReasonOutsideSchedule)},
		}},
		{"a stale automatic pause is resumed at start", heat, []step{
			{0, []int{60}, auto(ReasonHot), nil, true, nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a autopause
			set := tt.set
			for i, s := range tt.steps {
				if s.set != nil {
					set = *s.set
				}
				change, p := a.step(set, autoInputs{temps: s.temps}, s.cur, t0.Add(s.at))
				if change != s.change || (p == nil) != (s.p == nil) || (p != nil && !samePause(*p, *s.p)) {
					t.Fatalf("step %d (%s): got %v %+v, want %v %+v", i, t0.Add(s.at).Format("Mon 15:04:05"), change, p, s.change, s.p)
				}
			}
		})
	}
}

// TestAutopauseAdded: the pauses for a user at the computer, another
// program on a GPU and a high power draw, as a table of steps with the
// readings injected.
func TestAutopauseAdded(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	auto := func(r string) *Pause { return &Pause{Auto: true, Reason: r} }
	user := &Pause{}
	idle := func(since time.Duration) IdleState { return IdleState{Known: true, Idle: true, Since: t0.Add(since)} }
	active := IdleState{Known: true}
	unknown := IdleState{Why: "idle detection is unavailable: no system D-Bus"}
	game := gpu.Process{PID: 1234, Name: "/usr/games/game"}
	busy0 := autoInputs{busyKnown: true, foreign: []gpuProcess{{0, game}}}
	free := autoInputs{busyKnown: true}
	watts := func(w ...float64) autoInputs {
		in := autoInputs{}
		for i, x := range w {
			in.power = append(in.power, gpuWatts{index: i, watts: x})
		}
		return in
	}
	gameReason := "another program uses GPU 0 (pid 1234, game)"
	powerReason := "GPU 1 draws 420 W, above 400 W"

	type step struct {
		at     time.Duration // after t0
		in     autoInputs
		cur    *Pause
		change bool
		p      *Pause
	}
	idleSet := Settings{GPUTempLimitC: 85, IdleAfterMin: 10}
	busySet := Settings{GPUTempLimitC: 85, PauseWhenGPUBusy: true}
	powerSet := Settings{GPUTempLimitC: 85, PauseAboveW: 400, ResumeBelowW: 350}
	tests := []struct {
		name  string
		set   Settings
		steps []step
	}{
		{"idle: active pauses, N minutes without input resume", idleSet, []step{
			{0, autoInputs{idle: active}, nil, true, auto(ReasonUserActive)},
			{time.Minute, autoInputs{idle: idle(time.Minute)}, auto(ReasonUserActive), false, nil},
			{11*time.Minute - time.Second, autoInputs{idle: idle(time.Minute)}, auto(ReasonUserActive), false, nil}, // 9:59 idle
			{11 * time.Minute, autoInputs{idle: idle(time.Minute)}, auto(ReasonUserActive), true, nil},              // 10:00 idle
			{12 * time.Minute, autoInputs{idle: active}, nil, true, auto(ReasonUserActive)},                         // back at the computer
		}},
		{"idle: idle since ever (no sessions) works at once", idleSet, []step{
			{0, autoInputs{idle: IdleState{Known: true, Idle: true}}, nil, false, nil},
		}},
		{"idle: unknown never pauses, and resumes a stale pause", idleSet, []step{
			{0, autoInputs{idle: unknown}, auto(ReasonUserActive), true, nil},
			{time.Hour, autoInputs{idle: unknown}, nil, false, nil},
		}},
		{"idle: an idle start in the future counts as active", idleSet, []step{
			{0, autoInputs{idle: idle(time.Hour)}, nil, true, auto(ReasonUserActive)},
		}},
		{"idle: off ignores activity", Settings{GPUTempLimitC: 85}, []step{
			{0, autoInputs{idle: active}, nil, false, nil},
		}},
		{"idle: a user resume while active lasts until the next transition", idleSet, []step{
			{0, autoInputs{idle: active}, nil, true, auto(ReasonUserActive)},
			{time.Minute, autoInputs{idle: active}, nil, false, nil}, // the user resumed
			{20 * time.Minute, autoInputs{idle: idle(5 * time.Minute)}, nil, false, nil},
			{21 * time.Minute, autoInputs{idle: active}, nil, true, auto(ReasonUserActive)},
		}},
		{"busy: another program pauses, a minute after it ended resumes", busySet, []step{
			{0, free, nil, false, nil},
			{time.Second, busy0, nil, true, auto(gameReason)},
			{time.Minute, busy0, auto(gameReason), false, nil},
			{time.Minute + time.Second, free, auto(gameReason), false, nil},            // gone: the minute starts
			{2*time.Minute + 500*time.Millisecond, free, auto(gameReason), false, nil}, // 59.5 s
			{2*time.Minute + time.Second, free, auto(gameReason), true, nil},           // 60 s
		}},
		{"busy: coming back restarts the minute", busySet, []step{
			{0, busy0, nil, true, auto(gameReason)},
			{time.Second, free, auto(gameReason), false, nil},
			{30 * time.Second, busy0, auto(gameReason), false, nil},
			{31 * time.Second, free, auto(gameReason), false, nil},
			{90 * time.Second, free, auto(gameReason), false, nil},
			{91 * time.Second, free, auto(gameReason), true, nil},
		}},
		{"busy: another program takes over: the reason follows", busySet, []step{
			{0, busy0, nil, true, auto(gameReason)},
			{time.Second, autoInputs{busyKnown: true, foreign: []gpuProcess{{2, gpu.Process{PID: 99}}}}, auto(gameReason), true, auto("another program uses GPU 2 (pid 99)")},
		}},
		{"busy: unreadable processes change nothing", busySet, []step{
			{0, busy0, nil, true, auto(gameReason)},
			{time.Second, autoInputs{}, auto(gameReason), false, nil},
			{5 * time.Minute, autoInputs{}, auto(gameReason), false, nil},
		}},
		{"busy: a user pause is never resumed", busySet, []step{
			{0, busy0, user, false, nil},
			{5 * time.Minute, free, user, false, nil},
		}},
		{"power: above pauses, the resume waits for the margin and a minute", powerSet, []step{
			{0, watts(300, 390), nil, false, nil},
			{time.Second, watts(300, 420), nil, true, auto(powerReason)},
			{2 * time.Second, watts(300, 380), auto(powerReason), false, nil}, // under the limit, over resume below
			{3 * time.Second, watts(300, 350), auto(powerReason), false, nil}, // low from now
			{62 * time.Second, watts(300, 340), auto(powerReason), false, nil},
			{63 * time.Second, watts(300, 340), auto(powerReason), true, nil},
			{64 * time.Second, watts(300, 399), nil, false, nil},
		}},
		{"power: the reason stays the one that paused while the draw moves", powerSet, []step{
			{0, watts(300, 420), nil, true, auto(powerReason)},
			{time.Second, watts(450, 300), auto(powerReason), false, nil},
		}},
		{"power: no readings keep the pause", powerSet, []step{
			{0, watts(300, 420), nil, true, auto(powerReason)},
			{time.Second, autoInputs{}, auto(powerReason), false, nil},
			{5 * time.Minute, autoInputs{}, auto(powerReason), false, nil},
		}},
		{"order: heat, power, busy, idle, schedule", Settings{GPUTempLimitC: 85, PauseAboveC: 83, ResumeBelowC: 75, PauseAboveW: 400, ResumeBelowW: 350,
			PauseWhenGPUBusy: true, IdleAfterMin: 10, Schedule: &Schedule{Days: [7]bool{1: true}, From: "08:00", To: "09:00"}}, []step{
			{0, autoInputs{temps: []int{90}, power: watts(0, 420).power, busyKnown: true, foreign: busy0.foreign, idle: active}, nil, true, auto(ReasonHot)},
			{time.Second, autoInputs{temps: []int{70}, power: watts(0, 420).power, busyKnown: true, foreign: busy0.foreign, idle: active}, auto(ReasonHot), false, nil},
			{61 * time.Second, autoInputs{temps: []int{70}, power: watts(0, 420).power, busyKnown: true, foreign: busy0.foreign, idle: active}, auto(ReasonHot), true, auto(powerReason)},
			{62 * time.Second, autoInputs{temps: []int{70}, power: watts(0, 300).power, busyKnown: true, foreign: busy0.foreign, idle: active}, auto(powerReason), false, nil},
			{122 * time.Second, autoInputs{temps: []int{70}, power: watts(0, 300).power, busyKnown: true, foreign: busy0.foreign, idle: active}, auto(powerReason), true, auto(gameReason)},
			{123 * time.Second, autoInputs{temps: []int{70}, power: watts(0, 300).power, busyKnown: true, idle: active}, auto(gameReason), false, nil},
			{183 * time.Second, autoInputs{temps: []int{70}, power: watts(0, 300).power, busyKnown: true, idle: active}, auto(gameReason), true, auto(ReasonUserActive)},
			{time.Hour, autoInputs{temps: []int{70}, power: watts(0, 300).power, busyKnown: true, idle: idle(0)}, auto(ReasonUserActive), true, auto(ReasonOutsideSchedule)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a autopause
			for i, s := range tt.steps {
				change, p := a.step(tt.set, s.in, s.cur, t0.Add(s.at))
				if change != s.change || (p == nil) != (s.p == nil) || (p != nil && !samePause(*p, *s.p)) {
					t.Fatalf("step %d (+%s): got %v %+v, want %v %+v", i, s.at, change, p, s.change, s.p)
				}
			}
		})
	}
}

// TestHysteresis: the one switch behind the heat and power pauses.
func TestHysteresis(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var h hysteresis
	steps := []struct {
		at     time.Duration
		peak   float64
		have   bool
		on, up bool // want: on after the step; turned on at it
	}{
		{0, 10, true, false, false},
		{1, 20, true, true, true},
		{2, 25, true, true, false}, // stays on; no second turn-on
		{3, 15, true, true, false}, // between the thresholds: still on
		{4, 5, true, true, false},  // calm from now
		{8, 5, false, true, false}, // no reading: the hold starts over
		{9, 5, true, true, false},
		{13, 5, true, true, false}, // 4 s of 5
		{14, 5, true, false, false},
	}
	for i, s := range steps {
		up := h.observe(true, s.peak, s.have, 20, 5, 5*time.Second, t0.Add(s.at*time.Second))
		if h.on != s.on || up != s.up {
			t.Fatalf("step %d: on %v, turned on %v; want %v, %v", i, h.on, up, s.on, s.up)
		}
	}
	h.observe(false, 100, true, 20, 5, time.Second, t0)
	if h.on {
		t.Error("disabled and still on")
	}
}

func TestGPUReadingsAndForeignProcesses(t *testing.T) {
	idx := func(i int) *int { return &i }
	c := func(v uint32) *uint32 { return &v }
	w := func(v float64) *float64 { return &v }
	inv := gpu.Inventory{GPUs: []gpu.GPU{
		{Index: idx(0), UUID: "GPU-a", TemperatureC: c(60), PowerDrawW: w(300)},
		{Index: idx(1), UUID: "GPU-b", TemperatureC: c(90), PowerDrawW: w(500)},
		{BusID: "0000:65:00.0"}, // sysfs only: no readings
	}}
	temps, power := gpuReadings(inv, Settings{})
	if len(temps) != 2 || len(power) != 2 || power[1] != (gpuWatts{1, 500}) {
		t.Errorf("all GPUs: %v %v", temps, power)
	}
	temps, power = gpuReadings(inv, Settings{GPUs: []string{"GPU-a", "GPU-gone"}})
	if len(temps) != 1 || temps[0] != 60 || len(power) != 1 || power[0] != (gpuWatts{0, 300}) {
		t.Errorf("GPU-a only: %v %v", temps, power)
	}

	procs := []gpu.GPUProcesses{
		{Index: 1, Key: "GPU-b", Processes: []gpu.Process{{PID: 30, Name: "game"}, {PID: 7, Name: "qemu-system-x86_64"}}},
		{Index: 0, Key: "GPU-a", Processes: []gpu.Process{{PID: 20, Name: "blender"}, {PID: 10}}},
	}
	st := State{Dev: &Instance{PID: 7, AppPID: 5}}
	own := ownPIDs(st)
	if !own[7] || !own[5] || !own[uint32(os.Getpid())] {
		t.Fatalf("own PIDs %v", own)
	}
	got := foreignProcesses(procs, Settings{}, own)
	want := []gpuProcess{{0, gpu.Process{PID: 10}}, {0, gpu.Process{PID: 20, Name: "blender"}}, {1, gpu.Process{PID: 30, Name: "game"}}}
	if !slices.Equal(got, want) {
		t.Errorf("foreign %v, want %v", got, want)
	}
	if got := foreignProcesses(procs, Settings{GPUs: []string{"GPU-b"}}, own); len(got) != 1 || got[0].proc.PID != 30 {
		t.Errorf("on GPU-b only: %v", got)
	}
}

type fakeIdle struct{ st IdleState }

func (f *fakeIdle) Idle(context.Context) IdleState { return f.st }

type fakeProcs struct{ ps []gpu.GPUProcesses }

func (f *fakeProcs) Processes(context.Context) ([]gpu.GPUProcesses, error) { return f.ps, nil }

// TestAutoPauseSourcesThroughTheService: the service reads the injected
// idle and process sources only while the settings ask for them, and an
// unavailable idle source is told once, as an event.
func TestAutoPauseSourcesThroughTheService(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := New(Options{Root: t.TempDir(), DataDir: t.TempDir(), NVML: noNVML(), Now: func() time.Time { return now }})
	defer s.Close()
	db := openSettingsStore(t)
	s.mu.Lock()
	s.store = db
	s.mu.Unlock()
	idle := &fakeIdle{st: IdleState{Known: true}}
	procs := &fakeProcs{ps: []gpu.GPUProcesses{{Index: 0, Key: "GPU-a", Processes: []gpu.Process{{PID: uint32(os.Getpid())}}}}}
	s.auto.idleSource, s.auto.procSource = idle, procs

	if err := s.SetSettings(ctx, Settings{GPUTempLimitC: 85, IdleAfterMin: 5, PauseWhenGPUBusy: true}); err != nil {
		t.Fatal(err)
	}
	s.autoPause(ctx)
	if p := s.State().Pause; p == nil || !p.Auto || p.Reason != ReasonUserActive {
		t.Fatalf("pause %+v, want one for the user at the computer (our own process on the GPU does not count)", p)
	}
	procs.ps[0].Processes = append(procs.ps[0].Processes, gpu.Process{PID: 4242, Name: "/opt/game/bin/game.x86_64"})
	s.autoPause(ctx)
	if p := s.State().Pause; p == nil || p.Reason != "another program uses GPU 0 (pid 4242, game.x86_64)" {
		t.Fatalf("pause %+v, want one for the game", p)
	}
	procs.ps[0].Processes = procs.ps[0].Processes[:1]
	idle.st = IdleState{Why: "idle detection is unavailable: no system D-Bus"}
	now = now.Add(autoBusyGoneFor)
	s.autoPause(ctx)
	now = now.Add(autoBusyGoneFor)
	s.autoPause(ctx)
	s.autoPause(ctx)
	if p := s.State().Pause; p != nil {
		t.Fatalf("pause %+v; the game ended and idle is unknown: want none", p)
	}
	evs, err := db.Events(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Kind == "autopause.idle_unknown" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d events for the unavailable idle detection, want 1", n)
	}
}

// samePause compares pauses by what the English user sees; the tests of
// the translation keys are TestAutopauseReasonKeys.
func samePause(a, b Pause) bool {
	return a.Until.Equal(b.Until) && a.Auto == b.Auto && a.Reason == b.Reason
}

// TestAutopauseReasonKeys: every automatic pause carries the translation
// key of its reason with the values the English text embeds.
func TestAutopauseReasonKeys(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) // a Monday
	closed := &Schedule{Days: [7]bool{true, true, true, true, true, true, true}, From: "20:00", To: "21:00"}
	for _, tc := range []struct {
		name string
		set  Settings
		in   autoInputs
		key  string
		args map[string]string
	}{
		{"hot", Settings{PauseAboveC: 80, ResumeBelowC: 70}, autoInputs{temps: []int{90}}, ReasonKeyHot, nil},
		{"power", Settings{PauseAboveW: 400, ResumeBelowW: 300}, autoInputs{power: []gpuWatts{{1, 420.4}}}, ReasonKeyPowerHigh,
			map[string]string{"GPU": "1", "Watts": "420", "Limit": "400"}},
		{"busy", Settings{PauseWhenGPUBusy: true}, autoInputs{busyKnown: true, foreign: []gpuProcess{{0, gpu.Process{PID: 1234}}}}, ReasonKeyGPUBusy,
			map[string]string{"GPU": "0", "PID": "1234"}},
		{"busy named", Settings{PauseWhenGPUBusy: true}, autoInputs{busyKnown: true, foreign: []gpuProcess{{2, gpu.Process{PID: 7, Name: "/usr/bin/game"}}}}, ReasonKeyGPUBusyNamed,
			map[string]string{"GPU": "2", "PID": "7", "Program": "game"}},
		{"user active", Settings{IdleAfterMin: 10}, autoInputs{idle: IdleState{Known: true}}, ReasonKeyUserActive, nil},
		{"schedule", Settings{Schedule: closed}, autoInputs{}, ReasonKeyOutsideSchedule, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a autopause
			change, p := a.step(tc.set, tc.in, nil, t0)
			if !change || p == nil {
				t.Fatalf("no pause: %v %+v", change, p)
			}
			if p.ReasonKey != tc.key || !maps.Equal(p.ReasonArgs, tc.args) {
				t.Errorf("%q: key %q args %v, want %q %v", p.Reason, p.ReasonKey, p.ReasonArgs, tc.key, tc.args)
			}
			if !slices.Contains(ReasonKeys, p.ReasonKey) {
				t.Errorf("%q is not in ReasonKeys", p.ReasonKey)
			}
		})
	}
}
