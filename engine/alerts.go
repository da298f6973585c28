package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// AlertKind says what an alert is about.
type AlertKind string

// Alert kinds. The database stores each alert as an event of kind
// "alert.<kind>".
const (
	// AlertWorkerDown: a worker failed or has not answered for
	// alertDownAfter; a Clear alert follows when it runs again.
	AlertWorkerDown AlertKind = "worker_down"
	// AlertGPUHot: a GPU reached the temperature limit.
	AlertGPUHot AlertKind = "gpu_hot"
	// AlertPayout: payouts arrived in the owner's wallet.
	AlertPayout AlertKind = "payout"
	// AlertFloatLow: a worker's cocoon wallet (the float that pays its
	// fees) is low, or too low for the worker to run.
	AlertFloatLow AlertKind = "float_low"
	// AlertNotAllowed: the network would refuse a worker (its image or
	// model is not on the root contract's allow-lists).
	AlertNotAllowed AlertKind = "not_allowed"
)

// NoInstance is Alert.Instance for an alert about no one worker (a GPU,
// payouts).
const NoInstance = -1

// Alert is something the user should hear about even with the window
// closed: the desktop app shows it as a notification, the headless
// service writes it to the journal. Title and Body are plain sentences
// made from the engine's state only: never request content or secrets.
type Alert struct {
	Kind  AlertKind `json:"kind"`
	Title string    `json:"title"`
	Body  string    `json:"body"`
	// TitleKey names Title's wording for translation
	// ("alert.<kind>[.<case>].title"), with the values it embeds in
	// TitleArgs; a user interface shows its translation and falls back
	// to Title. Body has no key: it is made of the engine's English
	// labels and reasons.
	TitleKey  string            `json:"title_key,omitempty"`
	TitleArgs map[string]string `json:"title_args,omitempty"`
	// Instance is the worker it is about, or NoInstance.
	Instance int `json:"instance"`
	// Clear says that an earlier alert's condition is over (a worker is
	// running again): worth a line in the log and the window, not a
	// notification.
	Clear bool `json:"clear,omitempty"`
}

// Text is the alert in one line: its title and body.
func (a Alert) Text() string { return a.Title + ": " + a.Body }

// AlertTitleKeys are the keys of every alert title (Alert.TitleKey), for
// the user interface's translations to cover. The payout title's value
// is NanoTON (the amount in nanoTON), the hot GPU's TempC.
var AlertTitleKeys = []string{
	alertTitleKey(AlertWorkerDown, ""), alertTitleKey(AlertWorkerDown, "clear"),
	alertTitleKey(AlertFloatLow, ""), alertTitleKey(AlertFloatLow, "too_low"),
	alertTitleKey(AlertNotAllowed, ""), alertTitleKey(AlertNotAllowed, "image"), alertTitleKey(AlertNotAllowed, "model"),
	alertTitleKey(AlertGPUHot, ""), alertTitleKey(AlertPayout, ""),
}

// alertTitleKey is the translation key of an alert kind's title, or of
// one case of it.
func alertTitleKey(k AlertKind, variant string) string {
	if variant != "" {
		return "alert." + string(k) + "." + variant + ".title"
	}
	return "alert." + string(k) + ".title"
}

// The alert rules' settings and times.
const (
	// SettingAlertGPUTempC is the GPU temperature limit in °C, kept in
	// step with Settings.GPUTempLimitC (and read while no Settings are
	// stored); DefaultGPUTempLimitC when unset.
	SettingAlertGPUTempC = "alerts.gpu_temp_c"
	DefaultGPUTempLimitC = 85
	// alertDownAfter is how long a worker must be down before it is
	// reported: a restart that works is no news.
	alertDownAfter = 2 * time.Minute
	// A hot GPU is reported again only after it stayed gpuCoolMarginC
	// below the limit for gpuCoolFor.
	gpuCoolMarginC = 5
	gpuCoolFor     = 60 * time.Second
	// payoutGather is how long payouts are gathered into one alert.
	payoutGather = 10 * time.Second
	// alertRepeatAfter is the rate limit: the same alert (kind and
	// subject) goes out at most once in this time, unless a Clear alert
	// went out in between.
	alertRepeatAfter = 30 * time.Minute
)

// alertKey identifies an alert for the rate limit: its kind and what it
// is about (a worker, a GPU, a worker's float level).
type alertKey struct {
	kind    AlertKind
	subject string
}

// alertDetector turns successive states into alerts. It is pure: no I/O,
// no clock of its own; the Service calls observe with every state it
// publishes (at least once a second while Run samples the GPUs, which is
// what lets the time-based rules fire without another change).
type alertDetector struct {
	// gpuLimitC is the GPU temperature limit; 0 is DefaultGPUTempLimitC.
	gpuLimitC int
	// sent is when each alert last went out (the rate limit).
	sent    map[alertKey]time.Time
	down    map[int]*downWatch
	float   map[int]worker.WalletHealth // the level alerted; absent: armed
	refused map[int]bool                // alerted; absent: armed
	hot     map[string]*hotWatch
	payout  payoutWatch
}

// downWatch follows one worker for AlertWorkerDown.
type downWatch struct {
	// since is when the current outage began; zero while up or stopped.
	since   time.Time
	alerted bool
}

// hotWatch follows one GPU for AlertGPUHot.
type hotWatch struct {
	alerted bool
	// coolSince is when the GPU went below the re-arm temperature.
	coolSince time.Time
}

// payoutWatch follows the wallet stage of the ledger for AlertPayout.
type payoutWatch struct {
	known bool
	// announced is the all-time total the last alert covered; last is
	// the total last seen.
	announced, last int64
	// since is when the first unannounced payout was seen; rises counts
	// the unannounced payouts.
	since time.Time
	rises int
}

func newAlertDetector(gpuLimitC int) *alertDetector {
	return &alertDetector{gpuLimitC: gpuLimitC, sent: map[alertKey]time.Time{}, down: map[int]*downWatch{},
		float: map[int]worker.WalletHealth{}, refused: map[int]bool{}, hot: map[string]*hotWatch{}}
}

// observe returns the alerts that cur, published at now, gives rise to;
// prev is the state published before it.
func (d *alertDetector) observe(prev, cur State, now time.Time) []Alert {
	var out []Alert
	seen := map[int]bool{}
	if cur.Dev != nil {
		d.observeWorker(&out, *cur.Dev, "the dev-mode worker", now)
		seen[cur.Dev.Number] = true
	}
	for _, in := range cur.Attached {
		d.observeWorker(&out, in, fmt.Sprintf("the attached worker %d (%s)", in.Number, in.StatsAddr), now)
		seen[in.Number] = true
	}
	// A worker that is gone (detached) starts afresh if it comes back.
	for n := range d.down {
		if !seen[n] {
			delete(d.down, n)
		}
	}
	for n := range d.float {
		if !seen[n] {
			delete(d.float, n)
		}
	}
	for n := range d.refused {
		if !seen[n] {
			delete(d.refused, n)
		}
	}
	d.observeGPUs(&out, cur.GPUs, now)
	d.observePayouts(&out, prev, cur, now)
	return out
}

// fire sends a unless the same alert went out within alertRepeatAfter;
// a held-back alert stays due, so a lasting condition is reported once
// the time is up.
func (d *alertDetector) fire(out *[]Alert, key alertKey, a Alert, now time.Time) bool {
	if t, ok := d.sent[key]; ok && now.Sub(t) < alertRepeatAfter {
		return false
	}
	d.sent[key] = now
	*out = append(*out, a)
	return true
}

func (d *alertDetector) observeWorker(out *[]Alert, in Instance, label string, now time.Time) {
	n := in.Number
	subject := strconv.Itoa(n)

	// Down: failed or not answering for alertDownAfter. Once down, a
	// restart (preparing, booting) is still down until it runs again.
	w := d.down[n]
	if w == nil {
		w = &downWatch{}
		d.down[n] = w
	}
	key := alertKey{AlertWorkerDown, subject}
	switch {
	case in.State == vm.StateRunning && in.StatsError == "":
		w.since = time.Time{}
		if w.alerted {
			w.alerted = false
			delete(d.sent, key)
			*out = append(*out, Alert{Kind: AlertWorkerDown, Instance: n, Clear: true,
				Title: "Worker running again", TitleKey: alertTitleKey(AlertWorkerDown, "clear"), Body: capitalise(label) + " is running and answering again."})
		}
	case in.State == vm.StateStopping || in.State == vm.StateStopped:
		w.since = time.Time{} // stopped on purpose: not an outage
	case in.State == vm.StateFailed || in.State == vm.StateDegraded || in.StatsError != "" || !w.since.IsZero():
		if w.since.IsZero() {
			w.since = now
		}
		if !w.alerted && now.Sub(w.since) > alertDownAfter {
			how := "does not answer"
			switch in.State {
			case vm.StateFailed:
				how = "failed"
			case vm.StatePreparing, vm.StateBooting:
				how = "keeps restarting"
			}
			w.alerted = d.fire(out, key, Alert{Kind: AlertWorkerDown, Instance: n, Title: "Worker down", TitleKey: alertTitleKey(AlertWorkerDown, ""),
				Body: fmt.Sprintf("%s %s and has not recovered for over %d minutes; it earns nothing meanwhile. The Worker tab and the log say why.",
					capitalise(label), how, int(alertDownAfter/time.Minute))}, now)
		}
	}

	// Float: the cocoon wallet that pays the worker's fees. An alert when
	// it becomes low, another when it falls too low to run; re-armed once
	// it is healthy again.
	if in.Stats != nil {
		switch h := in.Stats.Status.WalletHealth(); h {
		case worker.WalletOK:
			delete(d.float, n)
		case worker.WalletLow, worker.WalletTooLow:
			if was, ok := d.float[n]; !ok || (h == worker.WalletTooLow && was == worker.WalletLow) {
				bal := wallet.TONString(in.Stats.Status.WalletBalance)
				a := Alert{Kind: AlertFloatLow, Instance: n, Title: "Worker float low", TitleKey: alertTitleKey(AlertFloatLow, ""),
					Body: fmt.Sprintf("The cocoon wallet of %s holds %s, under %s: top it up soon (`cocoon-provider wallet topup 3`).",
						label, bal, wallet.TONString(worker.WalletLowNanoTON))}
				if h == worker.WalletTooLow {
					a.Title, a.TitleKey = "Worker float too low", alertTitleKey(AlertFloatLow, "too_low")
					a.Body = fmt.Sprintf("The cocoon wallet of %s holds %s, under the %s it needs: the worker will not start or serve requests. Fund it: `cocoon-provider wallet topup 3`.",
						label, bal, wallet.TONString(worker.WalletMinNanoTON))
				}
				if d.fire(out, alertKey{AlertFloatLow, subject + "/" + h.String()}, a, now) {
					d.float[n] = h
				}
			}
		}
	}

	// Allow-list: a verdict that the network would refuse the worker;
	// re-armed once it is accepted again.
	if t := in.Trust; t != nil {
		switch {
		case t.Accepted:
			delete(d.refused, n)
		case t.Refused() && !d.refused[n]:
			title, titleKey := "The network would refuse the worker", alertTitleKey(AlertNotAllowed, "")
			switch {
			case t.ImageHash != "" && !t.ImageListed:
				title, titleKey = "Worker image not on the allow-list", alertTitleKey(AlertNotAllowed, "image")
			case !t.ModelListed:
				title, titleKey = "Worker model not on the allow-list", alertTitleKey(AlertNotAllowed, "model")
			}
			a := Alert{Kind: AlertNotAllowed, Instance: n, Title: title, TitleKey: titleKey,
				Body: fmt.Sprintf("The network would refuse %s: %s. It gets no requests until the root contract lists its image and model.",
					label, strings.Join(t.Reasons, "; "))}
			if d.fire(out, alertKey{AlertNotAllowed, subject}, a, now) {
				d.refused[n] = true
			}
		}
	}
}

func (d *alertDetector) observeGPUs(out *[]Alert, inv gpu.Inventory, now time.Time) {
	limit := d.gpuLimitC
	if limit <= 0 {
		limit = DefaultGPUTempLimitC
	}
	for _, g := range inv.GPUs {
		subject, name := gpuNames(g)
		if g.TemperatureC == nil || subject == "" {
			continue
		}
		w := d.hot[subject]
		if w == nil {
			w = &hotWatch{}
			d.hot[subject] = w
		}
		switch t := int(*g.TemperatureC); {
		case t >= limit:
			w.coolSince = time.Time{}
			if !w.alerted {
				w.alerted = d.fire(out, alertKey{AlertGPUHot, subject}, Alert{Kind: AlertGPUHot, Instance: NoInstance,
					Title:    fmt.Sprintf("GPU too hot: %d °C", t),
					TitleKey: alertTitleKey(AlertGPUHot, ""), TitleArgs: map[string]string{"TempC": strconv.Itoa(t)},
					Body: fmt.Sprintf("%s is at %d °C, at or over the %d °C limit: check the machine's cooling and airflow; a hot GPU slows down.", name, t, limit)}, now)
			}
		case t < limit-gpuCoolMarginC:
			if !w.alerted {
				break
			}
			if w.coolSince.IsZero() {
				w.coolSince = now
			}
			if now.Sub(w.coolSince) >= gpuCoolFor {
				w.alerted, w.coolSince = false, time.Time{}
			}
		default:
			w.coolSince = time.Time{}
		}
	}
}

// gpuNames returns the GPU's key for the rate limit and its name in words.
func gpuNames(g gpu.GPU) (subject, name string) {
	subject = g.Key()
	switch {
	case g.Index != nil:
		name = fmt.Sprintf("GPU %d (%s)", *g.Index, g.DisplayName())
		if subject == "" {
			subject = "index:" + strconv.Itoa(*g.Index)
		}
	case g.BusID != "":
		name = fmt.Sprintf("GPU %s (%s)", g.BusID, g.DisplayName())
	default:
		name = "GPU " + g.DisplayName()
	}
	return subject, name
}

func (d *alertDetector) observePayouts(out *[]Alert, prev, cur State, now time.Time) {
	total, ok := walletTotal(cur)
	if !ok {
		return
	}
	p := &d.payout
	if !p.known {
		// The totals at start are old news; a rise in the very change
		// that brought them is not.
		p.known, p.announced = true, total
		if before, ok := walletTotal(prev); ok && before < total {
			p.announced = before
		}
		p.last = p.announced
	}
	if total < p.announced { // a ledger that went back (another database): start again
		p.announced, p.last, p.since, p.rises = total, total, time.Time{}, 0
	}
	if total > p.last {
		p.rises++
	}
	p.last = total
	if total == p.announced {
		return
	}
	if p.since.IsZero() {
		p.since = now
	}
	if now.Sub(p.since) < payoutGather {
		return
	}
	amount := wallet.TONString(total - p.announced)
	body := fmt.Sprintf("%s arrived in your wallet; %s in all so far.", amount, wallet.TONString(total))
	if p.rises > 1 {
		body = fmt.Sprintf("%s arrived in your wallet in %d payouts; %s in all so far.", amount, p.rises, wallet.TONString(total))
	}
	if d.fire(out, alertKey{AlertPayout, ""}, Alert{Kind: AlertPayout, Instance: NoInstance, Title: "Payout arrived: " + amount,
		TitleKey: alertTitleKey(AlertPayout, ""), TitleArgs: map[string]string{"NanoTON": strconv.FormatInt(total-p.announced, 10)}, Body: body}, now) {
		p.announced, p.since, p.rises = total, time.Time{}, 0
	}
}

// walletTotal is the all-time total of payouts that arrived in the
// owner's wallet, when the ledger has been read.
func walletTotal(st State) (int64, bool) {
	if st.Earnings == nil || st.Earnings.All == nil {
		return 0, false
	}
	return st.Earnings.All[store.StageWallet], true
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// readSettings reads the settings in force at start: the stored ones
// (ReadSettings), or the defaults when they cannot be read. An older
// SettingAlertGPUTempC that is no sensible temperature is ignored.
func (s *Service) readSettings(ctx context.Context, st *store.Store) Settings {
	set, err := ReadSettings(ctx, st)
	if err == nil {
		err = set.Validate()
	}
	if err != nil {
		s.log.Warn("using the default settings", "error", err)
		return DefaultSettings()
	}
	return set
}

// publishAlertsLocked tells subscribers about alerts, stores them as
// events and queues them for Telegram (telegram.go); s.mu is held
// (update).
func (s *Service) publishAlertsLocked(alerts []Alert) {
	for _, a := range alerts {
		ev := Event{Kind: EventAlert, Time: s.state.Updated, Message: a.Text(), State: s.state, Alert: &a}
		for ch := range s.subs {
			select {
			case ch <- ev:
			default:
			}
		}
		if s.store == nil {
			continue
		}
		st := s.store
		level := "warn"
		if a.Clear {
			level = "info"
		}
		s.alertWrites.Add(1)
		go func() {
			defer s.alertWrites.Done()
			s.recordEventLevel(st, level, "alert."+string(a.Kind), a.Text(),
				map[string]any{"instance": a.Instance, "title": a.Title, "clear": a.Clear})
		}()
	}
	for _, a := range alerts {
		s.forwardAlertLocked(a)
	}
}
