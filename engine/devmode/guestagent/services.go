package main

import "sync"

// Unit states as systemd's ActiveState names them; the health "status"
// output uses these words.
const (
	stateActive     = "active"
	stateActivating = "activating"
	stateInactive   = "inactive"
	stateFailed     = "failed"
)

// service is one of the official image's units that the stand-in provides
// (all of them inside this one process).
type service struct {
	Name     string // unit name, e.g. "cocoon-worker-runner"
	Unit     string // full unit name, e.g. "cocoon-worker-runner.service"
	Critical bool   // counted in "Status: ERROR - N service(s) failing"
	State    string
	Restarts int
	Reason   string // why it is not active, for "status <svc>"; never a secret
}

// serviceTable is the stand-in's unit list, in the order "status" prints.
type serviceTable struct {
	mu   sync.Mutex
	list []service
}

// newServiceTable lists the units the stand-in runs. The monitored set of
// the official health-monitor also has docker, ssh, nvidia-tdx, the router,
// sglang and cert refresh; the stand-in runs none of them and does not
// pretend to.
func newServiceTable() *serviceTable {
	return &serviceTable{list: []service{
		{Name: "cocoon-ready.target", Unit: "cocoon-ready.target", Critical: true, State: stateActivating},
		{Name: "cocoon-health", Unit: "cocoon-health.service", Critical: true, State: stateActivating},
		{Name: "cocoon-worker-runner", Unit: "cocoon-worker-runner.service", Critical: true, State: stateInactive},
		{Name: "spec", Unit: "spec.service", Critical: false, State: stateInactive},
	}}
}

// Set records a unit's state; reason says why it is not active ("" when it
// is).
func (t *serviceTable) Set(name, state, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.list {
		if t.list[i].Name == name {
			t.list[i].State, t.list[i].Reason = state, reason
			return
		}
	}
}

// Snapshot returns a copy of the list.
func (t *serviceTable) Snapshot() []service {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]service(nil), t.list...)
}

// Lookup finds a unit by name, with or without its .service/.target suffix.
func (t *serviceTable) Lookup(name string) (service, bool) {
	for _, s := range t.Snapshot() {
		if s.Name == name || s.Unit == name {
			return s, true
		}
	}
	return service{}, false
}
