package remote

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest/gpucc"
	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/diag"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// The wire types carry engine values over HTTP. The engine's own JSON form
// leaves out what it does not persist (an instance's stats, activity and
// load; a GPU's raw certificate chains), so the wire types add those
// fields back. Types the engine already tags for JSON travel in that form;
// worker.Stats, worker.Activity and engine.LoadStats travel in
// encoding/json's default form (Go field names), except that the
// worker's counters may be "nan", "inf" or "-inf".

// apiName identifies this API in GET /v1/version.
const apiName = "cocoon-provider/v1"

// wireVersion is the answer of GET /v1/version.
type wireVersion struct {
	API     string `json:"api"`
	Version string `json:"version"`
}

// wireState is engine.State.
type wireState struct {
	Mode       engine.Mode       `json:"mode"`
	DataDir    string            `json:"data_dir"`
	Report     *hostcheck.Report `json:"report"`
	GPUs       wireInventory     `json:"gpus"`
	Dev        *wireInstance     `json:"dev"`
	Attached   []wireInstance    `json:"attached"`
	Earnings   *wireEarnings     `json:"earnings"`
	Pause      *engine.Pause     `json:"pause"`
	StoreError string            `json:"store_error,omitempty"`
	Updated    time.Time         `json:"updated"`
	// ReportSame: Report is left out because it is the one this event
	// stream sent before (the doctor's report is most of a state's size
	// and changes only when the doctor runs).
	ReportSame bool `json:"report_same,omitempty"`
}

// wireEvent is engine.Event.
type wireEvent struct {
	Kind    engine.EventKind `json:"kind"`
	Time    time.Time        `json:"time"`
	Message string           `json:"message,omitempty"`
	State   wireState        `json:"state"`
	// Alert travels in engine.Alert's own JSON form.
	Alert *engine.Alert `json:"alert,omitempty"`
}

// wireInstance is engine.Instance with the fields instance.json leaves out.
type wireInstance struct {
	engine.Instance
	Stats    *wireStats        `json:"stats,omitempty"`
	Activity *worker.Activity  `json:"activity,omitempty"`
	Load     *engine.LoadStats `json:"load,omitempty"`
}

// wireStats is worker.Stats with counters that may hold NaN and ±Inf: the
// worker prints them for non-finite doubles, and JSON numbers cannot.
type wireStats struct {
	worker.Stats
	Counters wireCounters `json:"Counters"`
}

// wireCounters is worker.Counters.
type wireCounters struct {
	Queries                  wireAmort
	Success                  wireAmort
	Failed                   wireAmort
	BytesReceived            wireAmort
	BytesSent                wireAmort
	Time                     wireAmort
	TotalAdjustedTokens      wireAmort
	PromptAdjustedTokens     wireAmort
	CachedAdjustedTokens     wireAmort
	CompletionAdjustedTokens wireAmort
	ReasoningAdjustedTokens  wireAmort
}

type wireAmort [7]wireFloat

// wireFloat is a float64 whose non-finite values travel as the strings
// "nan", "inf" and "-inf".
type wireFloat float64

func (f wireFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"nan"`), nil
	case math.IsInf(v, 1):
		return []byte(`"inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *wireFloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"nan"`:
		*f = wireFloat(math.NaN())
		return nil
	case `"inf"`:
		*f = wireFloat(math.Inf(1))
		return nil
	case `"-inf"`:
		*f = wireFloat(math.Inf(-1))
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("not a number: %s", b)
	}
	*f = wireFloat(v)
	return nil
}

func toWireAmort(c worker.AmortCounter) wireAmort {
	var w wireAmort
	for i, v := range c {
		w[i] = wireFloat(v)
	}
	return w
}

func (w wireAmort) engine() worker.AmortCounter {
	var c worker.AmortCounter
	for i, v := range w {
		c[i] = float64(v)
	}
	return c
}

func toWireStats(s *worker.Stats) *wireStats {
	if s == nil {
		return nil
	}
	c := s.Counters
	return &wireStats{Stats: *s, Counters: wireCounters{
		Queries: toWireAmort(c.Queries), Success: toWireAmort(c.Success), Failed: toWireAmort(c.Failed),
		BytesReceived: toWireAmort(c.BytesReceived), BytesSent: toWireAmort(c.BytesSent), Time: toWireAmort(c.Time),
		TotalAdjustedTokens: toWireAmort(c.TotalAdjustedTokens), PromptAdjustedTokens: toWireAmort(c.PromptAdjustedTokens),
		CachedAdjustedTokens: toWireAmort(c.CachedAdjustedTokens), CompletionAdjustedTokens: toWireAmort(c.CompletionAdjustedTokens),
		ReasoningAdjustedTokens: toWireAmort(c.ReasoningAdjustedTokens),
	}}
}

func (w *wireStats) engine() *worker.Stats {
	if w == nil {
		return nil
	}
	s := w.Stats
	c := w.Counters
	s.Counters = worker.Counters{
		Queries: c.Queries.engine(), Success: c.Success.engine(), Failed: c.Failed.engine(),
		BytesReceived: c.BytesReceived.engine(), BytesSent: c.BytesSent.engine(), Time: c.Time.engine(),
		TotalAdjustedTokens: c.TotalAdjustedTokens.engine(), PromptAdjustedTokens: c.PromptAdjustedTokens.engine(),
		CachedAdjustedTokens: c.CachedAdjustedTokens.engine(), CompletionAdjustedTokens: c.CompletionAdjustedTokens.engine(),
		ReasoningAdjustedTokens: c.ReasoningAdjustedTokens.engine(),
	}
	return &s
}

// wireEarnings is engine.Earnings.
type wireEarnings struct {
	Today        map[string]int64 `json:"today"`
	Week         map[string]int64 `json:"week"`
	Month        map[string]int64 `json:"month"`
	All          map[string]int64 `json:"all"`
	ClaimableNow int64            `json:"claimable_now"`
	Updated      time.Time        `json:"updated"`
	Mismatch     string           `json:"mismatch,omitempty"`
}

// wireInventory is gpu.Inventory with the CC report's raw fields.
type wireInventory struct {
	gpu.Inventory
	NVML wireNVML `json:"nvml"`
}

type wireNVML struct {
	gpu.NVMLStatus
	CC *wireCCReport `json:"cc,omitempty"`
}

type wireCCReport struct {
	gpucc.CCReport
	Devices []wireCCDevice `json:"devices,omitempty"`
}

type wireCCDevice struct {
	gpucc.CCDevice
	Report       wireCCAttestation  `json:"report"`
	Certificates wireCCCertificates `json:"certificates"`
}

type wireCCAttestation struct {
	gpucc.CCAttestationReport
	Nonce [32]byte `json:"nonce,omitzero"`
}

type wireCCCertificates struct {
	gpucc.CCCertificates
	CertChain            []byte `json:"cert_chain,omitempty"`
	AttestationCertChain []byte `json:"attestation_cert_chain,omitempty"`
}

// wireBucket is engine.EarningsBucket.
type wireBucket struct {
	Start   time.Time        `json:"start"`
	NanoTON map[string]int64 `json:"nanoton"`
}

// wireTarget is engine.Target.
type wireTarget struct {
	Instance  int64  `json:"instance"`
	StatsAddr string `json:"stats_addr"`
	Label     string `json:"label"`
}

// wireResult is engine.TargetResult; Error is nil when the control worked.
type wireResult struct {
	Target wireTarget `json:"target"`
	Proxy  string     `json:"proxy,omitempty"`
	Tokens int64      `json:"tokens,omitempty"`
	Amount int64      `json:"amount,omitempty"`
	Error  *wireError `json:"error,omitempty"`
}

// wireError is an error answer, and an error inside a payout result.
type wireError struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

// errorBody is the body of an error answer; a failed payout keeps the
// results it has.
type errorBody struct {
	wireError
	Results []wireResult `json:"results,omitempty"`
}

// Answers of the actions: the state right after the action, so a client's
// State reflects its own actions at once.
type (
	checkAnswer struct {
		Report hostcheck.Report `json:"report"`
		State  wireState        `json:"state"`
	}
	stateAnswer struct {
		State wireState `json:"state"`
	}
	payoutAnswer struct {
		Results []wireResult `json:"results"`
		State   wireState    `json:"state"`
	}
)

func toWireState(s engine.State) wireState {
	w := wireState{
		Mode: s.Mode, DataDir: s.DataDir, Report: s.Report, GPUs: toWireInventory(s.GPUs),
		Pause: s.Pause, StoreError: s.StoreError, Updated: s.Updated,
	}
	if s.Dev != nil {
		d := toWireInstance(*s.Dev)
		w.Dev = &d
	}
	if s.Attached != nil {
		w.Attached = make([]wireInstance, len(s.Attached))
		for i, in := range s.Attached {
			w.Attached[i] = toWireInstance(in)
		}
	}
	if e := s.Earnings; e != nil {
		w.Earnings = &wireEarnings{Today: e.Today, Week: e.Week, Month: e.Month, All: e.All,
			ClaimableNow: e.ClaimableNow, Updated: e.Updated, Mismatch: e.Mismatch}
	}
	return w
}

func (w wireState) engine() engine.State {
	s := engine.State{
		Mode: w.Mode, DataDir: w.DataDir, Report: w.Report, GPUs: w.GPUs.engine(),
		Pause: w.Pause, StoreError: w.StoreError, Updated: w.Updated,
	}
	if w.Dev != nil {
		d := w.Dev.engine()
		s.Dev = &d
	}
	if w.Attached != nil {
		s.Attached = make([]engine.Instance, len(w.Attached))
		for i, in := range w.Attached {
			s.Attached[i] = in.engine()
		}
	}
	if e := w.Earnings; e != nil {
		s.Earnings = &engine.Earnings{Today: e.Today, Week: e.Week, Month: e.Month, All: e.All,
			ClaimableNow: e.ClaimableNow, Updated: e.Updated, Mismatch: e.Mismatch}
	}
	return s
}

func toWireEvent(e engine.Event) wireEvent {
	return wireEvent{Kind: e.Kind, Time: e.Time, Message: e.Message, State: toWireState(e.State), Alert: e.Alert}
}

func (w wireEvent) engine() engine.Event {
	return engine.Event{Kind: w.Kind, Time: w.Time, Message: w.Message, State: w.State.engine(), Alert: w.Alert}
}

func toWireInstance(in engine.Instance) wireInstance {
	return wireInstance{Instance: in, Stats: toWireStats(in.Stats), Activity: in.Activity, Load: in.Load}
}

func (w wireInstance) engine() engine.Instance {
	in := w.Instance
	in.Stats, in.Activity, in.Load = w.Stats.engine(), w.Activity, w.Load
	return in
}

func toWireInventory(inv gpu.Inventory) wireInventory {
	w := wireInventory{Inventory: inv, NVML: wireNVML{NVMLStatus: inv.NVML}}
	if cc := inv.NVML.CC; cc != nil {
		r := wireCCReport{CCReport: *cc}
		if cc.Devices != nil {
			r.Devices = make([]wireCCDevice, len(cc.Devices))
			for i, d := range cc.Devices {
				r.Devices[i] = wireCCDevice{CCDevice: d,
					Report: wireCCAttestation{CCAttestationReport: d.Report, Nonce: d.Report.Nonce},
					Certificates: wireCCCertificates{CCCertificates: d.Certificates,
						CertChain: d.Certificates.CertChain, AttestationCertChain: d.Certificates.AttestationCertChain}}
			}
		}
		w.NVML.CC = &r
	}
	return w
}

func (w wireInventory) engine() gpu.Inventory {
	inv := w.Inventory
	inv.NVML = w.NVML.NVMLStatus
	inv.NVML.CC = nil
	if w.NVML.CC != nil {
		cc := w.NVML.CC.CCReport
		cc.Devices = nil
		if w.NVML.CC.Devices != nil {
			cc.Devices = make([]gpucc.CCDevice, len(w.NVML.CC.Devices))
			for i, wd := range w.NVML.CC.Devices {
				d := wd.CCDevice
				d.Report = wd.Report.CCAttestationReport
				d.Report.Nonce = wd.Report.Nonce
				d.Certificates = wd.Certificates.CCCertificates
				d.Certificates.CertChain = wd.Certificates.CertChain
				d.Certificates.AttestationCertChain = wd.Certificates.AttestationCertChain
				cc.Devices[i] = d
			}
		}
		inv.NVML.CC = &cc
	}
	return inv
}

func toWireBuckets(bs []engine.EarningsBucket) []wireBucket {
	if bs == nil {
		return nil
	}
	out := make([]wireBucket, len(bs))
	for i, b := range bs {
		out[i] = wireBucket{Start: b.Start, NanoTON: b.NanoTON}
	}
	return out
}

func engineBuckets(ws []wireBucket) []engine.EarningsBucket {
	if ws == nil {
		return nil
	}
	out := make([]engine.EarningsBucket, len(ws))
	for i, w := range ws {
		out[i] = engine.EarningsBucket{Start: w.Start, NanoTON: w.NanoTON}
	}
	return out
}

func toWireResults(rs []engine.TargetResult) []wireResult {
	if rs == nil {
		return nil
	}
	out := make([]wireResult, len(rs))
	for i, r := range rs {
		out[i] = wireResult{Target: wireTarget{Instance: r.Target.Instance, StatsAddr: r.Target.StatsAddr, Label: r.Target.Label},
			Proxy: r.Proxy, Tokens: r.Tokens, Amount: r.Amount}
		if r.Err != nil {
			we := toWireError(r.Err)
			out[i].Error = &we
		}
	}
	return out
}

func engineResults(ws []wireResult) []engine.TargetResult {
	if ws == nil {
		return nil
	}
	out := make([]engine.TargetResult, len(ws))
	for i, w := range ws {
		out[i] = engine.TargetResult{Target: engine.Target{Instance: w.Target.Instance, StatsAddr: w.Target.StatsAddr, Label: w.Target.Label},
			Proxy: w.Proxy, Tokens: w.Tokens, Amount: w.Amount}
		if w.Error != nil {
			out[i].Err = w.Error.err()
		}
	}
	return out
}

// wireLogPage is engine.LogPage.
type wireLogPage struct {
	Lines     []string         `json:"lines"`
	Truncated bool             `json:"truncated,omitempty"`
	Source    engine.LogSource `json:"source"`
}

func toWireLogPage(p engine.LogPage) wireLogPage {
	return wireLogPage{Lines: p.Lines, Truncated: p.Truncated, Source: p.Source}
}

func (w wireLogPage) engine() engine.LogPage {
	return engine.LogPage{Lines: w.Lines, Truncated: w.Truncated, Source: w.Source}
}

// wireSettings is engine.Settings.
type wireSettings struct {
	GPUTempLimitC int           `json:"gpu_temp_limit_c"`
	PauseAboveC   int           `json:"pause_above_c"`
	ResumeBelowC  int           `json:"resume_below_c"`
	Schedule      *wireSchedule `json:"schedule"`
	UpdateFeedURL string        `json:"update_feed_url"`
	// WorkerCoefficient is left out by older servers and clients: 0, the
	// default.
	WorkerCoefficient int64 `json:"worker_coefficient,omitempty"`
	// The fields below are left out by older servers and clients: off
	// (all GPUs, no idle, busy or power pause, the default TON config).
	GPUs             []string `json:"gpus,omitempty"`
	IdleAfterMin     int      `json:"idle_after_min,omitempty"`
	PauseWhenGPUBusy bool     `json:"pause_when_gpu_busy,omitempty"`
	PauseAboveW      int      `json:"pause_above_w,omitempty"`
	ResumeBelowW     int      `json:"resume_below_w,omitempty"`
	LiteserverConfig string   `json:"liteserver_config,omitempty"`
	// The Telegram alerts: left out by older servers and clients (off).
	// TelegramTokenSet is read-only; the token itself never travels in
	// settings, only in PUT /v1/telegram/token.
	TelegramEnabled  bool   `json:"telegram_enabled,omitempty"`
	TelegramChatID   string `json:"telegram_chat_id,omitempty"`
	TelegramTokenSet bool   `json:"telegram_token_set,omitempty"`
}

// wireTelegramToken is the body of PUT /v1/telegram/token; "" removes
// the token.
type wireTelegramToken struct {
	Token string `json:"token"`
}

// wireSchedule is engine.Schedule; Days[0] is Sunday.
type wireSchedule struct {
	Days [7]bool `json:"days"`
	From string  `json:"from"`
	To   string  `json:"to"`
}

func toWireSettings(s engine.Settings) wireSettings {
	w := wireSettings{GPUTempLimitC: s.GPUTempLimitC, PauseAboveC: s.PauseAboveC, ResumeBelowC: s.ResumeBelowC, UpdateFeedURL: s.UpdateFeedURL,
		WorkerCoefficient: s.WorkerCoefficient, GPUs: slices.Clone(s.GPUs), IdleAfterMin: s.IdleAfterMin, PauseWhenGPUBusy: s.PauseWhenGPUBusy,
		PauseAboveW: s.PauseAboveW, ResumeBelowW: s.ResumeBelowW, LiteserverConfig: s.LiteserverConfig,
		TelegramEnabled: s.TelegramEnabled, TelegramChatID: s.TelegramChatID, TelegramTokenSet: s.TelegramTokenSet}
	if sc := s.Schedule; sc != nil {
		w.Schedule = &wireSchedule{Days: sc.Days, From: sc.From, To: sc.To}
	}
	return w
}

func (w wireSettings) engine() engine.Settings {
	s := engine.Settings{GPUTempLimitC: w.GPUTempLimitC, PauseAboveC: w.PauseAboveC, ResumeBelowC: w.ResumeBelowC, UpdateFeedURL: w.UpdateFeedURL,
		WorkerCoefficient: w.WorkerCoefficient, GPUs: slices.Clone(w.GPUs), IdleAfterMin: w.IdleAfterMin, PauseWhenGPUBusy: w.PauseWhenGPUBusy,
		PauseAboveW: w.PauseAboveW, ResumeBelowW: w.ResumeBelowW, LiteserverConfig: w.LiteserverConfig,
		TelegramEnabled: w.TelegramEnabled, TelegramChatID: w.TelegramChatID, TelegramTokenSet: w.TelegramTokenSet}
	if sc := w.Schedule; sc != nil {
		s.Schedule = &engine.Schedule{Days: sc.Days, From: sc.From, To: sc.To}
	}
	return s
}

// diagManifestHeader carries a diagnostic bundle's manifest with the zip:
// its JSON form (diag.Manifest's own tags), in padded standard base64 so
// that any text in it travels safely in a header.
const diagManifestHeader = "X-Cocoon-Diag-Manifest"

// maxManifestHeader bounds that header; a manifest with more notes than
// fit says so in its last note (manifest.txt in the zip has them all).
const maxManifestHeader = 32 << 10

// encodeManifest returns the header value for m.
func encodeManifest(m diag.Manifest) (string, error) {
	notes := m.Notes
	for keep := len(notes); ; {
		b, err := json.Marshal(m)
		if err != nil {
			return "", err
		}
		v := base64.StdEncoding.EncodeToString(b)
		if len(v) <= maxManifestHeader || keep == 0 {
			if len(v) > maxManifestHeader {
				return "", errors.New("the diagnostic bundle's manifest is too large for a header")
			}
			return v, nil
		}
		keep /= 2
		m.Notes = append(notes[:keep:keep], fmt.Sprintf("… %d more notes in manifest.txt", len(notes)-keep))
	}
}

// decodeManifest reads the header value encodeManifest wrote.
func decodeManifest(v string) (diag.Manifest, error) {
	var m diag.Manifest
	if v == "" {
		return m, errors.New("the answer has no manifest")
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return m, fmt.Errorf("the manifest is not base64: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("the manifest is not JSON: %w", err)
	}
	return m, nil
}

// wireWalletInfo is engine.WalletInfo.
type wireWalletInfo struct {
	Network       string `json:"network"`
	Owner         string `json:"owner,omitempty"`
	OwnerRaw      string `json:"owner_raw,omitempty"`
	OwnerVersion  string `json:"owner_version,omitempty"`
	NodePublicKey string `json:"node_public_key,omitempty"`
	CocoonWallet  string `json:"cocoon_wallet,omitempty"`
	Keystore      bool   `json:"keystore"`
}

func toWireWalletInfo(w engine.WalletInfo) wireWalletInfo {
	return wireWalletInfo{Network: w.Network, Owner: w.Owner, OwnerRaw: w.OwnerRaw, OwnerVersion: w.OwnerVersion,
		NodePublicKey: w.NodePublicKey, CocoonWallet: w.CocoonWallet, Keystore: w.Keystore}
}

func (w wireWalletInfo) engine() engine.WalletInfo {
	return engine.WalletInfo{Network: w.Network, Owner: w.Owner, OwnerRaw: w.OwnerRaw, OwnerVersion: w.OwnerVersion,
		NodePublicKey: w.NodePublicKey, CocoonWallet: w.CocoonWallet, Keystore: w.Keystore}
}

// wireWalletSetup is engine.WalletSetupRequest. Phrase and Passphrase are
// secrets: []byte (base64 on the wire) so that both ends can clear them.
type wireWalletSetup struct {
	Mode       string `json:"mode"`
	Network    string `json:"network,omitempty"`
	Address    string `json:"address,omitempty"`
	Phrase     []byte `json:"phrase,omitempty"`
	BIP39      bool   `json:"bip39,omitempty"`
	Version    string `json:"version,omitempty"`
	Passphrase []byte `json:"passphrase,omitempty"`
}

func toWireWalletSetup(r engine.WalletSetupRequest) wireWalletSetup {
	return wireWalletSetup{Mode: string(r.Mode), Network: r.Network, Address: r.Address, Phrase: r.Phrase, BIP39: r.BIP39,
		Version: r.Version, Passphrase: r.Passphrase}
}

func (w wireWalletSetup) engine() engine.WalletSetupRequest {
	return engine.WalletSetupRequest{Mode: engine.WalletSetupMode(w.Mode), Network: w.Network, Address: w.Address, Phrase: w.Phrase,
		BIP39: w.BIP39, Version: w.Version, Passphrase: w.Passphrase}
}

// clear zeroes the secrets.
func (w *wireWalletSetup) clear() {
	clear(w.Phrase)
	clear(w.Passphrase)
}

// wireWalletSetupResult is engine.WalletSetupResult.
type wireWalletSetupResult struct {
	Wallet         wireWalletInfo `json:"wallet"`
	Phrase         []string       `json:"phrase,omitempty"`
	Warnings       []string       `json:"warnings,omitempty"`
	NodeKeyCreated bool           `json:"node_key_created,omitempty"`
}

func toWireWalletSetupResult(r engine.WalletSetupResult) wireWalletSetupResult {
	return wireWalletSetupResult{Wallet: toWireWalletInfo(r.Wallet), Phrase: r.Phrase, Warnings: r.Warnings, NodeKeyCreated: r.NodeKeyCreated}
}

func (w wireWalletSetupResult) engine() engine.WalletSetupResult {
	return engine.WalletSetupResult{Wallet: w.Wallet.engine(), Phrase: w.Phrase, Warnings: w.Warnings, NodeKeyCreated: w.NodeKeyCreated}
}

// wireNum is a reading that may be unknown: NaN (and ±Inf) travel as
// null, which JSON numbers cannot hold.
type wireNum float64

func (n wireNum) MarshalJSON() ([]byte, error) {
	if f := float64(n); math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(n), 'g', -1, 64), nil
}

func (n *wireNum) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = wireNum(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("reading %q is not a number or null", b)
	}
	*n = wireNum(f)
	return nil
}

// wireGPUSeries is []engine.GPUPoint by column, which keeps a day's or an
// hour's series small: times in unix milliseconds (bucket starts are
// whole milliseconds), unknown readings null. The columns are equally long.
type wireGPUSeries struct {
	TimeMS []int64   `json:"t_ms"`
	Util   []wireNum `json:"util_pct"`
	Mem    []wireNum `json:"mem_used_mib"`
	Temp   []wireNum `json:"temp_c"`
	Power  []wireNum `json:"power_w"`
}

func toWireGPUSeries(ps []engine.GPUPoint) wireGPUSeries {
	n := len(ps)
	w := wireGPUSeries{TimeMS: make([]int64, n), Util: make([]wireNum, n), Mem: make([]wireNum, n), Temp: make([]wireNum, n), Power: make([]wireNum, n)}
	for i, p := range ps {
		w.TimeMS[i] = p.Time.UnixMilli()
		w.Util[i], w.Mem[i], w.Temp[i], w.Power[i] = wireNum(p.UtilPct), wireNum(p.MemUsedMiB), wireNum(p.TempC), wireNum(p.PowerW)
	}
	return w
}

func (w wireGPUSeries) engine() ([]engine.GPUPoint, error) {
	n := len(w.TimeMS)
	if len(w.Util) != n || len(w.Mem) != n || len(w.Temp) != n || len(w.Power) != n {
		return nil, errors.New("the GPU series' columns differ in length")
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]engine.GPUPoint, n)
	for i := range out {
		out[i] = engine.GPUPoint{Time: time.UnixMilli(w.TimeMS[i]).UTC(), UtilPct: float64(w.Util[i]), MemUsedMiB: float64(w.Mem[i]),
			TempC: float64(w.Temp[i]), PowerW: float64(w.Power[i])}
	}
	return out, nil
}

// wireActivitySeries is []engine.ActivityPoint by column, like
// wireGPUSeries.
type wireActivitySeries struct {
	TimeMS      []int64   `json:"t_ms"`
	Requests    []wireNum `json:"requests_per_s"`
	Tokens      []wireNum `json:"tokens_per_s"`
	Success     []wireNum `json:"success_rate"`
	Concurrency []wireNum `json:"concurrency"`
}

func toWireActivitySeries(ps []engine.ActivityPoint) wireActivitySeries {
	n := len(ps)
	w := wireActivitySeries{TimeMS: make([]int64, n), Requests: make([]wireNum, n), Tokens: make([]wireNum, n), Success: make([]wireNum, n), Concurrency: make([]wireNum, n)}
	for i, p := range ps {
		w.TimeMS[i] = p.Time.UnixMilli()
		w.Requests[i], w.Tokens[i], w.Success[i], w.Concurrency[i] = wireNum(p.RequestsPerS), wireNum(p.TokensPerS), wireNum(p.SuccessRate), wireNum(p.Concurrency)
	}
	return w
}

func (w wireActivitySeries) engine() ([]engine.ActivityPoint, error) {
	n := len(w.TimeMS)
	if len(w.Requests) != n || len(w.Tokens) != n || len(w.Success) != n || len(w.Concurrency) != n {
		return nil, errors.New("the activity series' columns differ in length")
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]engine.ActivityPoint, n)
	for i := range out {
		out[i] = engine.ActivityPoint{Time: time.UnixMilli(w.TimeMS[i]).UTC(), RequestsPerS: float64(w.Requests[i]), TokensPerS: float64(w.Tokens[i]),
			SuccessRate: float64(w.Success[i]), Concurrency: float64(w.Concurrency[i])}
	}
	return out, nil
}
