package launch

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/worker"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// Mode is the kind of launch a plan is for (worker interface §3.3).
type Mode string

// Modes. Every mode but production measures another image than the
// release's production one (§1.3), so the network does not accept it.
const (
	ModeProduction  Mode = "production"
	ModeTest        Mode = "test"
	ModeFakeTON     Mode = "fake-ton"
	ModeTestFakeTON Mode = "test+fake-ton"
)

func modeOf(test, fakeTON bool) Mode {
	switch {
	case test && fakeTON:
		return ModeTestFakeTON
	case test:
		return ModeTest
	case fakeTON:
		return ModeFakeTON
	}
	return ModeProduction
}

// String names the mode in a sentence: "production", "test mode", …
func (m Mode) String() string {
	switch m {
	case ModeTest:
		return "test mode"
	case ModeFakeTON:
		return "fake-TON mode"
	case ModeTestFakeTON:
		return "test and fake-TON mode"
	}
	return "production"
}

// Describe says what the mode changes, for the configuration step.
func (m Mode) Describe() string {
	switch m {
	case ModeTest:
		return "test (--test): test images, debug keys instead of the seal server, cocoon_debug on the kernel command line"
	case ModeFakeTON:
		return "fake TON (--fake-ton): the worker runs against a fake root config instead of TON, cocoon_fake_ton on the kernel command line"
	case ModeTestFakeTON:
		return "test and fake TON (--test --fake-ton): test images, debug keys, a fake root config instead of TON, cocoon_debug cocoon_fake_ton on the kernel command line"
	}
	return "production"
}

// debugImageHash is what every plan of a debug mode says about the image
// hash (§1.3).
const debugImageHash = "image hash: NOT the production one: a test or fake-TON launch measures another image " +
	"(its kernel command line, and with fake TON its spec), so the network will not accept this worker and it earns nothing; " +
	"for operators debugging only"

// liteserverStep names the TON config the worker will use and, only with
// Config.CheckLiteservers, asks its liteservers whether they answer.
func (p *planner) liteserverStep() error {
	s := Step{Kind: KindLiteservers, Title: "Check the TON liteservers"}
	if p.fakeTON {
		s.Title += ": not needed with fake TON"
		s.Details = []string{"the guest skips the TON config and TON time sync (cocoon_fake_ton), and no TON config goes into the spec share"}
		p.add(s)
		return nil
	}
	if p.conf == nil {
		s.Blocked = []string{"no usable worker.conf names the TON config"}
		p.add(s)
		return nil
	}
	file := p.conf.TONConfig
	s.Title = "Check the TON liteservers of " + file
	from := "ton_config in worker.conf"
	if !p.tonConfigSet {
		from = "worker.conf sets no ton_config: the release's default, which releases do not ship, so it must be supplied"
	}
	s.Details = append(s.Details, "the worker reaches TON through the liteservers of this file ("+from+")")
	raw, err := p.readFile(file)
	if err != nil {
		s.Blocked = append(s.Blocked, "ton_config "+file+" cannot be read ("+fsReason(err)+"): write it, or make one with `cocoon-provider liteservers --config "+mainnetConfigURL+" --out "+file+"`")
		p.add(s)
		return nil
	}
	cfg, err := wallet.ParseGlobalConfig(raw)
	if err != nil {
		s.Blocked = append(s.Blocked, file+": "+err.Error())
		p.add(s)
		return nil
	}
	s.Details = append(s.Details, "it lists "+count(len(cfg.Liteservers), "liteserver"))
	if !p.cfg.CheckLiteservers {
		s.Details = append(s.Details,
			"would check that they answer and are up to date before the worker boots; a dry run asks them only with --check-liteservers",
			"check them now: `cocoon-provider liteservers --config "+file+"`")
		p.add(s)
		return nil
	}
	timeout := p.cfg.LiteserverTimeout
	if timeout <= 0 {
		timeout = wallet.DefaultLiteserverTimeout
	}
	hs, err := p.h.CheckLiteservers(p.ctx, raw, timeout)
	if cerr := p.ctx.Err(); cerr != nil {
		return cerr
	}
	if err != nil {
		s.Blocked = append(s.Blocked, file+": "+err.Error())
		p.add(s)
		return nil
	}
	sel := wallet.Pick(hs, 0, wallet.Freshness{})
	s.Details = append(s.Details, fmt.Sprintf("checked (--check-liteservers, %s each): %s", timeout, sel.Summary))
	for _, h := range hs {
		s.Details = append(s.Details, "  "+liteserverLine(h))
	}
	if len(sel.Picked) > 0 {
		addrs := make([]string, len(sel.Picked))
		for i, h := range sel.Picked {
			addrs[i] = h.Addr
		}
		s.Details = append(s.Details, "usable, fastest first: "+strings.Join(addrs, ", "))
	}
	switch sel.Verdict {
	case wallet.VerdictNone:
		s.Blocked = append(s.Blocked, strings.TrimSpace(sel.Summary+" "+sel.Fix))
	case wallet.VerdictDegraded:
		s.Details = append(s.Details, sel.Fix+" `cocoon-provider liteservers --config "+file+" --out FILE` writes a copy with only the usable ones.")
	}
	p.add(s)
	return nil
}

// liteserverLine words one liteserver's health.
func liteserverLine(h wallet.LiteserverHealth) string {
	if !h.OK {
		return h.Addr + ": does not answer: " + h.Problem
	}
	line := fmt.Sprintf("%s: answers in %s, masterchain block %d", h.Addr, h.Latency.Round(time.Millisecond), h.Seqno)
	switch {
	case h.SeqnoBehind == 0 && h.TimeBehind <= 0:
		line += ", up to date"
	default:
		line += fmt.Sprintf(", %s (%s) behind the best", count(int(h.SeqnoBehind), "block"), h.TimeBehind.Round(time.Second))
		if !(wallet.Freshness{}).Fresh(h) {
			line += ": too far behind to use"
		}
	}
	return line
}

// mainnetConfigURL is where ton.org publishes the mainnet global config.
const mainnetConfigURL = "https://ton.org/global.config.json"

func count(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// fsReason words a file error without the path it repeats.
func fsReason(err error) string {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// fakeTON is the fake-TON overlay of a release, applied to its template.
type fakeTON struct {
	rewrite worker.SpecRewrite
	edits   map[string]worker.SpecEdit
	config  string              // the overlay's fake root config, a host path
	vars    *worker.RuntimeVars // the overlay's runtime.vars (contract codes)
}

// fakeTONOverlay reads the release's spec/fake-ton and rewrites the spec
// template at tmpl (a host path) with it (§3.3). It returns the reasons
// it cannot.
func (p *planner) fakeTONOverlay(tmpl string) (fakeTON, []string) {
	var blocked []string
	dir := path.Join(p.relRoot, worker.FakeTONDir)
	ft := fakeTON{config: path.Join(dir, worker.FakeTONConfigFile), edits: map[string]worker.SpecEdit{}}
	if b, err := p.readFile(path.Join(dir, "runtime.vars")); err != nil {
		blocked = append(blocked, "the release has no "+worker.FakeTONDir+"/runtime.vars (the fake contracts' codes), which fake TON needs: fetch a release that has it")
	} else if vars, err := worker.ParseRuntimeVars(b); err != nil {
		blocked = append(blocked, path.Join(dir, "runtime.vars")+": "+err.Error())
	} else {
		ft.vars = &vars
	}
	cfg, err := p.readFile(ft.config)
	if err != nil {
		return ft, append(blocked, "the release has no "+worker.FakeTONDir+"/"+worker.FakeTONConfigFile+", which fake TON adds to the spec: fetch a release that has it")
	}
	sub, err := fs.Sub(p.fsys, rel(tmpl))
	if err == nil {
		ft.rewrite, err = worker.RewriteSpecForFakeTON(sub, cfg)
	}
	if err != nil {
		return ft, append(blocked, "the spec template "+tmpl+" cannot be rewritten for fake TON: "+err.Error())
	}
	for _, e := range ft.rewrite.Edits {
		ft.edits[e.File] = e
	}
	return ft, blocked
}

// shownValue shortens a long runtime.vars value (a contract code) for the
// plan.
func shownValue(v string) string {
	if len(v) <= 72 {
		return v
	}
	return fmt.Sprintf("%s… (%d characters)", v[:24], len(v))
}

// edit is the rewrite of the template file name, if any; ft may be nil.
func (ft *fakeTON) edit(name string) (worker.SpecEdit, bool) {
	if ft == nil {
		return worker.SpecEdit{}, false
	}
	e, ok := ft.edits[name]
	return e, ok && !e.New
}
