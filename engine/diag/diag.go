// Package diag writes the diagnostic bundle: a zip a user attaches to a
// bug report. It holds what helps to find a problem (the doctor's report,
// the GPUs, settings, recent events, earnings totals, the worker
// instances' state and console tails, the app's log) and, through a
// Redactor applied to every text file, none of what must stay private:
// wallet addresses (unless the user keeps them), recovery phrases, keys,
// tokens, the home directory, user and host names, IP addresses. The
// keystore, the API token, the secrets key and key files are never read
// into it.
//
// The database is opened read-only with a bounded wait for locks, so a
// bundle can be written while the app runs. Anything missing or
// unreadable is noted in the manifest, never a failure.
package diag

import (
	"github.com/cocoon-provider/cocoon-provider/internal/bytesize"

	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v3/host"
	"github.com/shirou/gopsutil/v3/mem"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// Options say what goes into a bundle.
type Options struct {
	// DataDir is the app's data directory.
	DataDir string
	// Version is the app's version line.
	Version string
	// Report is the doctor's report; nil leaves doctor.json out.
	Report *hostcheck.Report
	// GPUs is the GPU scan; nil leaves gpus.json out.
	GPUs *gpu.Inventory
	// IncludeAddresses keeps TON addresses (the user opted in).
	IncludeAddresses bool
	// PublicHashes are hex hashes safe to keep (image hash, model hash);
	// every other hex run of 64 digits or more is hidden. The model's
	// dm-verity hash from an imported worker.conf is kept as well.
	PublicHashes []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Manifest is what a bundle contains.
type Manifest struct {
	Time    time.Time `json:"time"`
	Version string    `json:"version"`
	// Files are the files of the zip in order, manifest.txt first.
	Files []File `json:"files"`
	// Redactions counts the replacements per kind over all files.
	Redactions map[Kind]int `json:"redactions"`
	// AddressesKept is true when TON addresses were left in.
	AddressesKept bool `json:"addresses_kept"`
	// Notes say what is missing, cut short or could not be read.
	Notes []string `json:"notes,omitempty"`
}

// File is one file of the bundle.
type File struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	// Note says how the content was chosen, e.g. "last 256 KiB of 8.0 MiB".
	Note string `json:"note,omitempty"`
}

// Limits on what a bundle holds.
const (
	// ConsoleTailBytes is how much of each instance's console log is kept.
	ConsoleTailBytes = 256 << 10
	// LogTailBytes is how much of each app log file is kept.
	LogTailBytes = 1 << 20
	// MaxEvents is how many of the newest events are kept.
	MaxEvents = 1000
	// maxInstanceFile bounds instance.json.
	maxInstanceFile = 1 << 20
	// maxListed bounds files.txt.
	maxListed = 2000
)

// dbBusyTimeout is how long one database read waits for another
// connection's lock before the bundle notes it as unreadable.
const dbBusyTimeout = 2 * time.Second

// Names in the data directory, as the engine lays it out (engine.InstanceFiles,
// engine.KeystorePath, engine.SettingWorkerConf; the app's log is
// logs/app.log, rotated to app.log.1, app.log.2). The bundle tests build
// their data directories through the engine's names.
const (
	instancesDir    = "instances"
	instanceState   = "instance.json"
	instanceConsole = "console.log"
	logsDir         = "logs"
	appLog          = "app.log"
	keystoreFile    = "keystore.json"
	apiTokenFile    = "api-token"
	apiKeyFile      = "api-key.pem"
	// secretsKeyFile seals secrets in the database (engine.SecretsKeyFile).
	secretsKeyFile = "secrets.key"
	// settingWorkerConf holds an imported worker.conf (engine.SettingWorkerConf).
	settingWorkerConf = "worker.conf"
)

// neverIncluded are data directory files whose content never enters a
// bundle, whatever else happens.
var neverIncluded = []string{keystoreFile, apiTokenFile, apiKeyFile, secretsKeyFile}

// Write writes the bundle as a zip to w and returns what it contains (for
// the UI or CLI to list). It fails only when w fails, the context ends, or
// DataDir is empty; everything it cannot read is noted in the manifest.
func Write(ctx context.Context, w io.Writer, opts Options) (Manifest, error) {
	if opts.DataDir == "" {
		return Manifest{}, errors.New("diagnostic bundle: no data directory")
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return Manifest{}, fmt.Errorf("diagnostic bundle: %w", err)
	}
	b := &bundle{opts: opts, dir: dir, now: now().UTC()}
	b.m = Manifest{Time: b.now, Version: opts.Version, AddressesKept: opts.IncludeAddresses}
	b.denied = b.deniedFiles()

	db := b.readDatabase(ctx)
	if err := ctx.Err(); err != nil {
		return Manifest{}, err
	}
	b.red = NewRedactor(b.redactorConfig(db))

	b.add("system.txt", b.system(ctx), "")
	if opts.Report != nil {
		b.addJSON("doctor.json", opts.Report, "")
	} else {
		b.note("doctor.json: the doctor's report was not available")
	}
	if opts.GPUs != nil {
		b.addJSON("gpus.json", opts.GPUs, "")
	} else {
		b.note("gpus.json: the GPU scan was not available")
	}
	b.addDatabase(db)
	if err := ctx.Err(); err != nil {
		return Manifest{}, err
	}
	b.addInstances()
	b.addLogs()
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		b.note("files.txt: the data directory %s does not exist or is not a directory", dir)
	} else {
		b.add("files.txt", b.listing(), "names, sizes and modes in the data directory; no content")
	}
	if err := ctx.Err(); err != nil {
		return Manifest{}, err
	}

	for i, n := range b.m.Notes {
		b.m.Notes[i] = b.red.Redact(n)
	}
	b.m.Version = b.red.Redact(b.m.Version)
	b.m.Redactions = b.red.Counts()
	for _, k := range Kinds() {
		b.m.Redactions[k] += 0 // every kind listed, zero included
	}
	b.m.Redactions[KindSecretField] += b.secretFields
	// manifest.txt lists its own size: render until the size it states is
	// its size (the second round, unless the number grew a digit).
	b.m.Files = append([]File{{Name: "manifest.txt"}}, b.m.Files...)
	manifest := b.manifestText()
	for range 3 {
		if int64(len(manifest)) == b.m.Files[0].Size {
			break
		}
		b.m.Files[0].Size = int64(len(manifest))
		manifest = b.manifestText()
	}

	zw := zip.NewWriter(w)
	entries := append([]entry{{name: "manifest.txt", data: []byte(manifest)}}, b.entries...)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: b.now}
		h.SetMode(0o600)
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return Manifest{}, fmt.Errorf("write diagnostic bundle: %w", err)
		}
		if _, err := fw.Write(e.data); err != nil {
			return Manifest{}, fmt.Errorf("write diagnostic bundle: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return Manifest{}, fmt.Errorf("write diagnostic bundle: %w", err)
	}
	return b.m, nil
}

// bundle is one bundle being assembled in memory.
type bundle struct {
	opts    Options
	dir     string
	now     time.Time
	red     *Redactor
	m       Manifest
	entries []entry
	// denied are the files that never enter a bundle, to catch links to them.
	denied []os.FileInfo
	// secretFields counts secret-looking values left out.
	secretFields int
}

type entry struct {
	name string
	data []byte
}

// note records something missing or cut short.
func (b *bundle) note(format string, args ...any) {
	b.m.Notes = append(b.m.Notes, fmt.Sprintf(format, args...))
}

// add redacts text and adds it as a file.
func (b *bundle) add(name, text, note string) {
	data := []byte(b.red.Redact(text))
	b.entries = append(b.entries, entry{name: name, data: data})
	b.m.Files = append(b.m.Files, File{Name: name, Size: int64(len(data)), Note: note})
}

// addJSON adds v as indented JSON (redacted as text).
func (b *bundle) addJSON(name string, v any, note string) {
	text, err := marshal(v)
	if err != nil {
		b.note("%s: %v", name, err)
		return
	}
	b.add(name, text, note)
}

// marshal writes v as indented JSON without HTML escaping, so that the
// redactor sees the text as it is.
func marshal(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// redactorConfig gathers what identifies this machine and user.
func (b *bundle) redactorConfig(db dbData) RedactorConfig {
	cfg := RedactorConfig{KeepAddresses: b.opts.IncludeAddresses, PublicHashes: slices.Clone(b.opts.PublicHashes)}
	if h := modelHash(db.settings); h != "" {
		cfg.PublicHashes = append(cfg.PublicHashes, h)
	}
	if home, err := os.UserHomeDir(); err == nil {
		cfg.Home = filepath.Clean(home)
	}
	cfg.Users = append(cfg.Users, os.Getenv("USER"), os.Getenv("LOGNAME"))
	if u, err := user.Current(); err == nil {
		cfg.Users = append(cfg.Users, u.Username)
		if cfg.Home == "" {
			cfg.Home = u.HomeDir
		}
	}
	if h, err := os.Hostname(); err == nil {
		cfg.Hosts = append(cfg.Hosts, h)
		if short, _, ok := strings.Cut(h, "."); ok {
			cfg.Hosts = append(cfg.Hosts, short)
		}
	}
	if b.opts.Report != nil {
		cfg.Hosts = append(cfg.Hosts, b.opts.Report.Host.Hostname)
	}
	if tok, err := b.readSmall(apiTokenFile, 64<<10, true); err == nil {
		cfg.Secrets = append(cfg.Secrets, strings.TrimSpace(tok))
	}
	return cfg
}

// modelHash returns the model's dm-verity hash from the imported
// worker.conf setting: it names a public model, so it stays readable.
func modelHash(settings map[string]string) string {
	var conf struct {
		Model struct{ VerityHash string }
	}
	if err := json.Unmarshal([]byte(settings[settingWorkerConf]), &conf); err != nil {
		return ""
	}
	return conf.Model.VerityHash
}

// system describes the machine without naming it.
func (b *bundle) system(ctx context.Context) string {
	var s strings.Builder
	line := func(k, v string) { fmt.Fprintf(&s, "%-10s %s\n", k+":", v) }
	line("Version", b.opts.Version)
	line("Created", b.now.Format(time.RFC3339))
	osName, kernel := "", ""
	if r := b.opts.Report; r != nil {
		osName, kernel = r.Host.OS, r.Host.Kernel
	}
	if osName == "" {
		osName = osRelease()
	}
	if kernel == "" {
		if v, err := host.KernelVersionWithContext(ctx); err == nil {
			kernel = v
		}
	}
	line("OS", strings.TrimSpace(fmt.Sprintf("%s/%s %s", runtime.GOOS, runtime.GOARCH, osName)))
	line("Kernel", orUnknown(kernel))
	line("CPUs", strconv.Itoa(runtime.NumCPU())+" logical")
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		line("Memory", fmt.Sprintf("%s total, %s available", bytesize.Format(int64(vm.Total)), bytesize.Format(int64(vm.Available))))
	} else {
		line("Memory", "unknown ("+err.Error()+")")
	}
	line("Go", runtime.Version())
	line("Data dir", b.dir)
	return s.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// osRelease returns PRETTY_NAME from /etc/os-release, or "".
func osRelease() string {
	raw, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// dbData is what the bundle reads from the database.
type dbData struct {
	settings map[string]string
	events   []store.Event
	totals   map[string]int64
	// failed names the parts that could not be read, with why.
	failed map[string]string
}

// readDatabase reads settings, the newest events and the ledger totals
// through a read-only connection; each read waits for locks at most
// dbBusyTimeout.
func (b *bundle) readDatabase(ctx context.Context) dbData {
	d := dbData{failed: map[string]string{}}
	path := filepath.Join(b.dir, store.DefaultFileName)
	fail := func(err error) {
		for _, part := range []string{"settings.json", "events.json", "earnings-summary.json"} {
			d.failed[part] = err.Error()
		}
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		fail(errors.New("there is no database yet (" + store.DefaultFileName + " is missing)"))
		return d
	}
	st, err := store.OpenReadOnly(ctx, path, dbBusyTimeout)
	if err != nil {
		fail(fmt.Errorf("the database could not be opened: %w", err))
		return d
	}
	defer st.Close()
	if d.settings, err = st.Settings(ctx); err != nil {
		d.failed["settings.json"] = err.Error()
	}
	if d.events, err = st.LastEvents(ctx, MaxEvents); err != nil {
		d.failed["events.json"] = err.Error()
	}
	if d.totals, err = st.LedgerTotals(ctx); err != nil {
		d.failed["earnings-summary.json"] = err.Error()
	}
	return d
}

// removedValue stands for a secret-looking value inside a JSON value.
const removedValue = "<removed>"

// addDatabase adds settings.json, events.json and earnings-summary.json.
func (b *bundle) addDatabase(d dbData) {
	// One note per reason, naming the files it cost.
	var reasons []string
	cost := map[string][]string{}
	for _, name := range []string{"settings.json", "events.json", "earnings-summary.json"} {
		if why, ok := d.failed[name]; ok {
			if _, seen := cost[why]; !seen {
				reasons = append(reasons, why)
			}
			cost[why] = append(cost[why], name)
		}
	}
	for _, why := range reasons {
		b.note("%s: could not be read: %s", strings.Join(cost[why], ", "), why)
	}
	if _, ok := d.failed["settings.json"]; !ok {
		type setting struct {
			Key     string `json:"key"`
			Value   any    `json:"value,omitempty"`
			Removed bool   `json:"removed,omitempty"`
		}
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range d.settings {
				if !yield(k) {
					return
				}
			}
		})
		out := make([]setting, 0, len(keys))
		for _, k := range keys {
			if secretKey(k) {
				out = append(out, setting{Key: k, Removed: true})
				b.secretFields++
				continue
			}
			out = append(out, setting{Key: k, Value: b.jsonValue(d.settings[k])})
		}
		b.addJSON("settings.json", map[string]any{"settings": out}, "values of secret-looking keys removed")
	}
	if _, ok := d.failed["events.json"]; !ok {
		type event struct {
			ID      int64     `json:"id"`
			Time    time.Time `json:"time"`
			Level   string    `json:"level"`
			Kind    string    `json:"kind"`
			Message string    `json:"message"`
			Attrs   any       `json:"attrs,omitempty"`
		}
		out := make([]event, 0, len(d.events))
		for _, e := range d.events {
			ev := event{ID: e.ID, Time: e.Time, Level: e.Level, Kind: e.Kind, Message: e.Message}
			if len(e.Attrs) > 0 {
				ev.Attrs = b.jsonValue(string(e.Attrs))
			}
			out = append(out, ev)
		}
		note := fmt.Sprintf("the newest %d events", len(out))
		if len(out) < MaxEvents {
			note = fmt.Sprintf("all %d events", len(out))
		}
		b.addJSON("events.json", map[string]any{"events": out}, note)
	}
	if _, ok := d.failed["earnings-summary.json"]; !ok {
		ton := map[string]string{}
		for st, n := range d.totals {
			ton[st] = wallet.FormatTON(n)
		}
		b.addJSON("earnings-summary.json", map[string]any{
			"stages":          store.Stages(),
			"total_nanoton":   d.totals,
			"total_ton":       ton,
			"what_this_holds": "ledger totals per settlement stage over all time; no entries, sources or addresses",
		}, "totals per stage only")
	}
}

// jsonValue returns raw as a JSON value with secret-looking fields
// removed, or as the plain string when it is not a JSON object or array.
func (b *bundle) jsonValue(raw string) any {
	t := strings.TrimSpace(raw)
	if t == "" || (t[0] != '{' && t[0] != '[') {
		return raw
	}
	dec := json.NewDecoder(strings.NewReader(t))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return raw
	}
	return b.scrub(v)
}

// scrub replaces the values of secret-looking keys in a decoded JSON value.
func (b *bundle) scrub(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			switch val.(type) {
			case string, map[string]any, []any:
				if secretKey(k) && val != "" {
					x[k] = removedValue
					b.secretFields++
					continue
				}
			}
			x[k] = b.scrub(val)
		}
	case []any:
		for i := range x {
			x[i] = b.scrub(x[i])
		}
	}
	return v
}

// secretKey reports whether a settings key or JSON field name looks like
// it holds a secret. Counts and prices of tokens ("tokens",
// "fee_per_token") are not secrets.
func secretKey(k string) bool {
	var norm strings.Builder
	for _, r := range strings.ToLower(k) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			norm.WriteRune(r)
		}
	}
	n := norm.String()
	for _, s := range []string{"secret", "password", "passwd", "passphrase", "mnemonic", "seedphrase", "privatekey",
		"apikey", "walletkey", "nodekey", "credential", "authorization", "cookie"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return strings.Contains(n, "token") && !strings.HasSuffix(n, "tokens") && !strings.Contains(n, "pertoken") &&
		!strings.Contains(n, "tokencount")
}

// addInstances adds each worker instance's state and console tail.
func (b *bundle) addInstances() {
	ents, err := os.ReadDir(filepath.Join(b.dir, instancesDir))
	if errors.Is(err, fs.ErrNotExist) {
		b.note("instances: none (no worker has run with this data directory)")
		return
	}
	if err != nil {
		b.note("instances: could not be listed: %v", err)
		return
	}
	var nums []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && n >= 0 && strconv.Itoa(n) == e.Name() && e.IsDir() {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	for _, n := range nums {
		rel := filepath.ToSlash(filepath.Join(instancesDir, strconv.Itoa(n)))
		if text, err := b.readSmall(rel+"/"+instanceState, maxInstanceFile, false); err == nil {
			b.add(rel+"/"+instanceState, text, "")
		} else if errors.Is(err, fs.ErrNotExist) {
			b.note("%s/%s: missing (the instance is not running)", rel, instanceState)
		} else {
			b.note("%s/%s: %v", rel, instanceState, err)
		}
		files := rotated(filepath.Join(b.dir, rel), instanceConsole)
		if len(files) == 0 {
			b.note("%s/%s: missing", rel, instanceConsole)
			continue
		}
		b.addTail(rel+"/console-tail.log", rel, files, ConsoleTailBytes, false)
	}
}

// rotated returns the names of base and its rotations base.1, base.2, …
// in dir, oldest first.
func rotated(dir, base string) []string {
	paths, err := vm.RotatedFiles(filepath.Join(dir, base))
	if err != nil {
		return nil
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		out[len(paths)-1-i] = filepath.Base(p)
	}
	return out
}

// addLogs adds the tails of the app's log files, each file on its own.
// Other files under logs/ are added when they are text readable by
// everyone (mode 0644 or looser).
func (b *bundle) addLogs() {
	ents, err := os.ReadDir(filepath.Join(b.dir, logsDir))
	if errors.Is(err, fs.ErrNotExist) {
		b.note("logs: no app log in the data directory")
		return
	}
	if err != nil {
		b.note("logs: could not be listed: %v", err)
		return
	}
	app := rotated(filepath.Join(b.dir, logsDir), appLog)
	slices.Reverse(app) // newest first
	for _, name := range app {
		rel := logsDir + "/" + name
		b.addTail(rel, logsDir, []string{name}, LogTailBytes, false)
	}
	for _, e := range ents {
		name := e.Name()
		if slices.Contains(app, name) {
			continue
		}
		// Only the app's own log names are known; another name may say
		// something about the user.
		rel := logsDir + "/" + b.red.Redact(name)
		info, err := e.Info()
		switch {
		case err != nil:
			b.note("%s: %v", rel, err)
		case !info.Mode().IsRegular():
			b.note("%s: left out: not a regular file", rel)
		case info.Mode().Perm()&0o644 != 0o644:
			b.note("%s: left out: mode %s (files other than the app's log are included only when readable by everyone)", rel, info.Mode().Perm())
		default:
			b.addTail(rel, logsDir, []string{name}, LogTailBytes, true)
		}
	}
}

// addTail adds the last limit bytes of the files (oldest first, read as
// one text) in the directory rel, cut at a line start. It reads a little
// more than it keeps and redacts before cutting, so that a secret that
// spans the cut is hidden whole. textOnly leaves out content with NUL
// bytes.
func (b *bundle) addTail(name, rel string, files []string, limit int64, textOnly bool) {
	const lookback = 16 << 10
	var chunks [][]byte
	var total, taken int64
	want := limit + lookback
	for i := len(files) - 1; i >= 0; i-- {
		fileRel := rel + "/" + files[i]
		f, info, err := b.open(fileRel)
		if err != nil {
			b.note("%s: %v", fileRel, err)
			continue
		}
		total += info.Size()
		if taken < want {
			n := min(info.Size(), want-taken)
			buf := make([]byte, n)
			m, err := f.ReadAt(buf, info.Size()-n)
			if err != nil && !errors.Is(err, io.EOF) {
				b.note("%s: %v", fileRel, err)
			}
			chunks = append(chunks, buf[:m])
			taken += int64(m)
		}
		f.Close()
	}
	if len(chunks) == 0 {
		return
	}
	slices.Reverse(chunks)
	data := bytes.Join(chunks, nil)
	if taken < total {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:] // a line cut at its start
		}
	}
	if textOnly && bytes.IndexByte(data, 0) >= 0 {
		b.note("%s: left out: not text", name)
		return
	}
	text := b.red.Redact(string(data))
	cut := false
	if int64(len(text)) > limit {
		text = text[int64(len(text))-limit:]
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			text = text[i+1:]
		}
		cut = true
	}
	note := ""
	if cut || taken < total {
		note = fmt.Sprintf("last %s of %s", bytesize.Format(int64(len(text))), bytesize.Format(total))
	}
	b.entries = append(b.entries, entry{name: name, data: []byte(text)})
	b.m.Files = append(b.m.Files, File{Name: name, Size: int64(len(text)), Note: note})
}

// readSmall reads a whole file of at most limit bytes. quiet skips the
// check against files that never enter a bundle (for the API token, read
// only to hide its value).
func (b *bundle) readSmall(rel string, limit int64, quiet bool) (string, error) {
	var f *os.File
	var info os.FileInfo
	var err error
	if quiet {
		f, info, err = openRegular(filepath.Join(b.dir, filepath.FromSlash(rel)))
	} else {
		f, info, err = b.open(rel)
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	if info.Size() > limit {
		return "", fmt.Errorf("left out: %s is larger than %s", bytesize.Format(info.Size()), bytesize.Format(limit))
	}
	raw, err := io.ReadAll(io.LimitReader(f, limit))
	return string(raw), err
}

// errPrivate refuses a file that never enters a bundle.
var errPrivate = errors.New("left out: it is (or links to) the keystore, the API token or key, the secrets key, or the database")

// open opens a file of the data directory for the bundle: a regular file
// (not a link), never one of the files that stay private nor a link to one.
func (b *bundle) open(rel string) (*os.File, os.FileInfo, error) {
	if slices.Contains(neverIncluded, filepath.Base(rel)) || strings.HasSuffix(rel, ".pem") || strings.HasPrefix(filepath.Base(rel), store.DefaultFileName) {
		return nil, nil, errPrivate
	}
	f, info, err := openRegular(filepath.Join(b.dir, filepath.FromSlash(rel)))
	if err != nil {
		return nil, nil, err
	}
	for _, d := range b.denied {
		if os.SameFile(d, info) {
			f.Close()
			return nil, nil, errPrivate
		}
	}
	return f, info, nil
}

// openRegular opens path when it is a regular file, not a symbolic link,
// and is still the same file once open.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	linfo, err := os.Lstat(path)
	if err != nil {
		return nil, nil, err
	}
	switch t := linfo.Mode().Type(); {
	case t&fs.ModeSymlink != 0:
		return nil, nil, errors.New("left out: a symbolic link")
	case t.IsDir():
		return nil, nil, errors.New("left out: a directory")
	case !linfo.Mode().IsRegular():
		return nil, nil, errors.New("left out: not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil || !os.SameFile(linfo, info) {
		f.Close()
		return nil, nil, errors.New("left out: the file changed while it was opened")
	}
	return f, info, nil
}

// deniedFiles stats the files that never enter a bundle.
func (b *bundle) deniedFiles() []os.FileInfo {
	var out []os.FileInfo
	for _, name := range neverIncluded {
		if fi, err := os.Stat(filepath.Join(b.dir, name)); err == nil {
			out = append(out, fi)
		}
	}
	return out
}

// listing lists the data directory: modes, sizes, times and names only.
func (b *bundle) listing() string {
	var s strings.Builder
	n := 0
	err := filepath.WalkDir(b.dir, func(path string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(b.dir, path)
		if err != nil {
			fmt.Fprintf(&s, "%-11s %12s %-20s %s (%v)\n", "?", "", "", filepath.ToSlash(rel), err)
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if rel == "." {
			return nil
		}
		if n++; n > maxListed {
			fmt.Fprintf(&s, "… more than %d entries, the rest left out\n", maxListed)
			return fs.SkipAll
		}
		info, err := d.Info()
		if err != nil {
			fmt.Fprintf(&s, "%-11s %12s %-20s %s (%v)\n", "?", "", "", filepath.ToSlash(rel), err)
			return nil
		}
		fmt.Fprintf(&s, "%-11s %12d %-20s %s\n", info.Mode(), info.Size(), info.ModTime().UTC().Format("2006-01-02 15:04:05"), filepath.ToSlash(rel))
		if d.IsDir() && strings.Count(filepath.ToSlash(rel), "/") >= 3 {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(&s, "listing stopped: %v\n", err)
	}
	return s.String()
}

// manifestText renders manifest.txt.
func (b *bundle) manifestText() string {
	m := b.m
	var s strings.Builder
	fmt.Fprintf(&s, "Cocoon Provider diagnostic bundle\n\n")
	fmt.Fprintf(&s, "Created:  %s\n", m.Time.Format(time.RFC3339))
	fmt.Fprintf(&s, "Version:  %s\n", orUnknown(m.Version))
	if m.AddressesKept {
		fmt.Fprintf(&s, "Addresses: TON addresses were kept, as the user asked.\n")
	} else {
		fmt.Fprintf(&s, "Addresses: TON addresses were replaced by <address-N>.\n")
	}
	fmt.Fprintf(&s, "\nFiles:\n")
	for _, f := range m.Files {
		line := fmt.Sprintf("  %-28s %10d bytes", f.Name, f.Size)
		if f.Note != "" {
			line += "  (" + f.Note + ")"
		}
		fmt.Fprintln(&s, line)
	}
	fmt.Fprintf(&s, "\nRedacted (replacements per kind):\n")
	for _, k := range Kinds() {
		fmt.Fprintf(&s, "  %-13s %6d  %s\n", k, m.Redactions[k], k.Describe())
	}
	fmt.Fprintf(&s, "\nNever included: %s, %s, %s, %s, the database file itself, the worker's spec directory (its configuration and keys), and any other file of the data directory not listed above.\n",
		keystoreFile, apiTokenFile, apiKeyFile, secretsKeyFile)
	if len(m.Notes) > 0 {
		fmt.Fprintf(&s, "\nMissing, cut short or unreadable:\n")
		for _, n := range m.Notes {
			fmt.Fprintf(&s, "  - %s\n", n)
		}
	}
	return s.String()
}

// ImageHashes returns the hashes of the stand-in images cached in
// cacheDir (devmode.DefaultCacheDir): they name public builds, so a bundle
// may keep them (Options.PublicHashes).
func ImageHashes(cacheDir string) []string {
	if cacheDir == "" {
		return nil
	}
	paths, _ := filepath.Glob(filepath.Join(cacheDir, "images", "*", devmode.ManifestFile))
	var out []string
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var img devmode.Image
		if json.Unmarshal(raw, &img) != nil {
			continue
		}
		for _, h := range []string{img.InputsHash, img.Kernel.SHA256, img.Initrd.SHA256, img.Inputs.KernelDebSHA256, img.Inputs.AgentHash} {
			if h != "" && !slices.Contains(out, h) {
				out = append(out, h)
			}
		}
	}
	return out
}
