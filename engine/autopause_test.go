package engine

import (
	"testing"
	"time"
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
				change, p := a.step(set, s.temps, s.cur, t0.Add(s.at))
				if change != s.change || (p == nil) != (s.p == nil) || (p != nil && *p != *s.p) {
					t.Fatalf("step %d (%s): got %v %+v, want %v %+v", i, t0.Add(s.at).Format("Mon 15:04:05"), change, p, s.change, s.p)
				}
			}
		})
	}
}
