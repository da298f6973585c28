package engine

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/diag"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// writeLog writes the files of a rotated log: files[0] is the active file,
// files[1] its first rotation, and so on.
func writeLog(t *testing.T, path string, files ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	for i, content := range files {
		name := path
		if i > 0 {
			name = fmt.Sprintf("%s.%d", path, i)
		}
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func logService(t *testing.T) (*Service, string) {
	t.Helper()
	dir := t.TempDir()
	s := New(Options{Root: t.TempDir(), DataDir: dir, NVML: noNVML(), ImageCacheDir: t.TempDir()})
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func numbered(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "line %04d\n", i)
	}
	return b.String()
}

func TestLogsAcrossRotations(t *testing.T) {
	s, dir := logService(t)
	ctx := context.Background()
	// Oldest first: app.log.2 holds lines 1-10, app.log.1 lines 11-20 and
	// the start of line 21, app.log the rest of line 21 and lines 22-25.
	writeLog(t, AppLogPath(dir),
		" 0021 joined\n"+numbered(22, 25),
		numbered(11, 20)+"line",
		numbered(1, 10))

	p, err := s.Logs(ctx, LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSuffix(numbered(1, 20)+"line 0021 joined\n"+numbered(22, 25), "\n"), "\n")
	if !slices.Equal(p.Lines, want) || p.Truncated || p.Source != LogApp {
		t.Fatalf("all lines = %q (truncated %v, source %q), want %q", p.Lines, p.Truncated, p.Source, want)
	}

	p, err = s.Logs(ctx, LogQuery{Source: LogApp, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Lines, want[len(want)-5:]) || !p.Truncated {
		t.Errorf("limit 5 = %q truncated %v", p.Lines, p.Truncated)
	}
	p, _ = s.Logs(ctx, LogQuery{Limit: len(want)})
	if !slices.Equal(p.Lines, want) || p.Truncated {
		t.Errorf("limit = all lines: %d lines, truncated %v", len(p.Lines), p.Truncated)
	}

	// Contains: in any case, across the files, newest kept under the limit.
	p, _ = s.Logs(ctx, LogQuery{Contains: "LINE 001"})
	if want := strings.Split(strings.TrimSpace(numbered(10, 19)), "\n"); !slices.Equal(p.Lines, want) || p.Truncated {
		t.Errorf("contains LINE 001 = %q truncated %v", p.Lines, p.Truncated)
	}
	p, _ = s.Logs(ctx, LogQuery{Contains: "line 001", Limit: 3})
	if !slices.Equal(p.Lines, []string{"line 0017", "line 0018", "line 0019"}) || !p.Truncated {
		t.Errorf("contains with limit 3 = %q truncated %v", p.Lines, p.Truncated)
	}
	p, _ = s.Logs(ctx, LogQuery{Contains: "JOINED"})
	if !slices.Equal(p.Lines, []string{"line 0021 joined"}) || p.Truncated {
		t.Errorf("the line cut by the rotation = %q", p.Lines)
	}
	p, err = s.Logs(ctx, LogQuery{Contains: "nowhere"})
	if err != nil || len(p.Lines) != 0 || p.Truncated {
		t.Errorf("no match = %q truncated %v, %v", p.Lines, p.Truncated, err)
	}

	// The same question about an unchanged log is answered again; a line
	// written meanwhile shows.
	again, _ := s.Logs(ctx, LogQuery{Limit: 2})
	if !slices.Equal(again.Lines, want[len(want)-2:]) || !again.Truncated {
		t.Errorf("asked again: %q", again.Lines)
	}
	again.Lines[0] = "changed by the caller"
	f, err := os.OpenFile(AppLogPath(dir), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "line 0026")
	f.Close()
	p, _ = s.Logs(ctx, LogQuery{Limit: 2})
	if !slices.Equal(p.Lines, []string{"line 0025", "line 0026"}) {
		t.Errorf("after a new line: %q", p.Lines)
	}
}

func TestLogsConsoleAndEdges(t *testing.T) {
	s, dir := logService(t)
	ctx := context.Background()

	// Nothing written yet: an empty page, no error.
	for _, q := range []LogQuery{{Source: LogApp}, {Source: LogConsole, Instance: 3}} {
		p, err := s.Logs(ctx, q)
		if err != nil || len(p.Lines) != 0 || p.Truncated || p.Source != q.Source {
			t.Errorf("%+v before any log: %+v, %v", q, p, err)
		}
	}

	// The console: terminal escapes, carriage returns, bad UTF-8 and
	// control characters cleaned; no final line break.
	writeLog(t, InstanceFiles(dir, 1).Console,
		"\x1b[0;32m[  OK  ]\x1b[0m Started \x1b]0;title\x07unit\r\n"+
			"progress 10%\rprogress 100%\r\n"+
			"bad \xff byte\x00 and\ttab\n"+
			"\n"+
			"partial")
	p, err := s.Logs(ctx, LogQuery{Source: LogConsole, Instance: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"[  OK  ] Started unit", "progress 100%", "bad \uFFFD byte and\ttab", "", "partial"}
	if !slices.Equal(p.Lines, want) || p.Source != LogConsole {
		t.Errorf("console = %q, want %q", p.Lines, want)
	}
	// Another instance has its own console.
	if p, _ := s.Logs(ctx, LogQuery{Source: LogConsole, Instance: 0}); len(p.Lines) != 0 {
		t.Errorf("instance 0 = %q", p.Lines)
	}

	// A very long line is cut.
	writeLog(t, AppLogPath(dir), "short\n"+strings.Repeat("x", MaxLogLine+100)+"\n")
	p, _ = s.Logs(ctx, LogQuery{})
	if len(p.Lines) != 2 || len(p.Lines[1]) != MaxLogLine+len("…") || !strings.HasSuffix(p.Lines[1], "…") {
		t.Errorf("long line: %d lines, the last %d bytes", len(p.Lines), len(p.Lines[len(p.Lines)-1]))
	}

	// A link in place of the log is not followed.
	secret := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(secret, []byte("not the log\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := InstanceFiles(dir, 2).Console
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Logs(ctx, LogQuery{Source: LogConsole, Instance: 2}); err == nil || len(p.Lines) != 0 {
		t.Errorf("a link: %q, %v", p.Lines, err)
	}

	for _, q := range []LogQuery{{Source: "journal"}, {Instance: -1}, {Limit: -1}} {
		if _, err := s.Logs(ctx, q); !errors.Is(err, ErrBadLogQuery) {
			t.Errorf("%+v: %v, want ErrBadLogQuery", q, err)
		}
	}
	if q, _ := (LogQuery{Limit: MaxLogLimit + 1}).Normalized(); q.Limit != MaxLogLimit || q.Source != LogApp {
		t.Errorf("normalized %+v", q)
	}
	if q, _ := (LogQuery{}).Normalized(); q.Limit != DefaultLogLimit {
		t.Errorf("default limit %d", q.Limit)
	}
	if _, err := New(Options{NVML: noNVML()}).Logs(ctx, LogQuery{}); err == nil {
		t.Error("no data directory: no error")
	}
}

// TestLogsRedacted: keys, phrases and tokens never leave the engine, even
// when searched for; addresses stay.
func TestLogsRedacted(t *testing.T) {
	s, dir := logService(t)
	ctx := context.Background()
	apiToken := "Qx7-api-token-Z93kLm20"
	if err := os.WriteFile(filepath.Join(dir, apiTokenFile), []byte(apiToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("node key"))
	nodeKey := hex.EncodeToString(sum[:])
	// 24 words of the recovery-phrase list, none of them elsewhere in the log.
	words := strings.Fields("abandon ability able about above absent absorb abstract absurd abuse access accident " +
		"account accuse achieve acid acoustic acquire across act action actor actress actual")
	for _, w := range words {
		if !wallet.IsMnemonicWord(w) {
			t.Fatalf("%q is not on the list", w)
		}
	}
	addr := wallet.NewAddress(0, sha256.Sum256([]byte("owner")), false, false).Display()
	// Slog's text form; the words around the phrase are not on the
	// recovery-phrase list (the Redactor takes list words next to a
	// phrase with it).
	var text strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&text, "time=2026-03-01T12:00:00Z level=DEBUG "+format+"\n", args...)
	}
	line("msg=started owner=%s", addr)
	line("msg=key node_key=%s", nodeKey)
	line("msg=mnemonic words=%q", strings.Join(words, " "))
	line("msg=auth Authorization: Bearer %s", apiToken)
	line("msg=config password=Hunter2Secret!x")
	fmt.Fprintf(&text, "## recovery mnemonic, one word a line:\n%s\n## closing marker\n", strings.Join(words, "\n"))
	writeLog(t, AppLogPath(dir), text.String())

	p, err := s.Logs(ctx, LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(p.Lines, "\n")
	// The phrase is looked for as pairs of words, and as lines of one word.
	canaries := []string{nodeKey, apiToken, "Hunter2Secret"}
	for i := range len(words) - 1 {
		canaries = append(canaries, words[i]+" "+words[i+1])
	}
	for _, canary := range canaries {
		if strings.Contains(all, canary) {
			t.Errorf("the log shows %q:\n%s", canary, all)
		}
	}
	for _, l := range p.Lines {
		if slices.Contains(words, l) {
			t.Errorf("the log shows the phrase's word %q on its own line", l)
		}
	}
	for _, want := range []string{"owner=" + addr, "<hex-redacted>", "<mnemonic-redacted>", "<token-redacted>", "## closing marker"} {
		if !strings.Contains(all, want) {
			t.Errorf("the log lacks %q:\n%s", want, all)
		}
	}
	// The phrase written a word a line: every one of its lines is shown
	// (redacted), and only the first holds the placeholder.
	if n := len(strings.Split(strings.TrimSuffix(text.String(), "\n"), "\n")); len(p.Lines) != n {
		t.Errorf("%d lines, want %d", len(p.Lines), n)
	}
	// Searching for a hidden value finds nothing; a word of the phrase
	// neither, even the line that held it alone.
	for _, needle := range []string{nodeKey[:20], apiToken, "hunter2", words[5]} {
		if p, _ := s.Logs(ctx, LogQuery{Contains: needle}); len(p.Lines) != 0 {
			t.Errorf("search %q found %q", needle, p.Lines)
		}
	}
	// One line alone, searched for, is still redacted with its context.
	p, _ = s.Logs(ctx, LogQuery{Contains: "## "})
	if len(p.Lines) != 2 || p.Lines[0] != "## recovery mnemonic, one word a line:" || p.Lines[1] != "## closing marker" {
		t.Errorf("search ##: %q", p.Lines)
	}
	p, _ = s.Logs(ctx, LogQuery{Contains: "mnemonic"})
	if got := strings.Join(p.Lines, "\n"); len(p.Lines) != 3 || strings.Contains(got, words[0]) || strings.Count(got, "<mnemonic-redacted>") != 2 {
		t.Errorf("search mnemonic: %q", p.Lines)
	}
	// Placeholders can be searched for.
	p, _ = s.Logs(ctx, LogQuery{Contains: "-REDACTED>"})
	if len(p.Lines) != 5 { // key, phrase, bearer, password, the phrase a word a line
		t.Errorf("search for -redacted>: %q", p.Lines)
	}
	p, _ = s.Logs(ctx, LogQuery{Contains: addr[:20]})
	if len(p.Lines) != 1 || !strings.Contains(p.Lines[0], addr) {
		t.Errorf("search for the address: %q", p.Lines)
	}
}

// TestLogsBoundedRead: a log larger than the read budget is read only in
// part, and says so.
func TestLogsBoundedRead(t *testing.T) {
	s, dir := logService(t)
	var b strings.Builder
	b.WriteString("the very first line\n")
	for i := 0; b.Len() < logReadBudget+2<<20; i++ {
		fmt.Fprintf(&b, "filler line %07d with some text to make it longer\n", i)
	}
	b.WriteString("the newest line\n")
	// The newer half is app.log, the older app.log.1; the cut falls inside a line.
	writeLog(t, AppLogPath(dir), b.String()[b.Len()/2:], b.String()[:b.Len()/2])

	ctx := context.Background()
	p, err := s.Logs(ctx, LogQuery{Contains: "very first"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Lines) != 0 || !p.Truncated {
		t.Errorf("a line beyond the budget: %q truncated %v", p.Lines, p.Truncated)
	}
	p, _ = s.Logs(ctx, LogQuery{Limit: 2})
	if !slices.Equal(p.Lines[1:], []string{"the newest line"}) || !p.Truncated {
		t.Errorf("newest = %q truncated %v", p.Lines, p.Truncated)
	}

	tail, err := openLogTail(AppLogPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer tail.close()
	q, _ := LogQuery{Contains: "very first", Limit: MaxLogLimit}.Normalized()
	if _, _, err := tail.newest(ctx, diag.NewRedactor(s.logRedactorConfig()), q); err != nil {
		t.Fatal(err)
	}
	if tail.read > logReadBudget+logLookback {
		t.Errorf("read %d bytes, more than %d", tail.read, logReadBudget+logLookback)
	}
	// The default page reads little.
	tail2, _ := openLogTail(AppLogPath(dir))
	defer tail2.close()
	q, _ = LogQuery{}.Normalized()
	if _, _, err := tail2.newest(ctx, diag.NewRedactor(s.logRedactorConfig()), q); err != nil {
		t.Fatal(err)
	}
	if tail2.read > 256<<10 {
		t.Errorf("500 short lines read %d bytes", tail2.read)
	}
}

func TestLogsContextEnds(t *testing.T) {
	s, dir := logService(t)
	writeLog(t, AppLogPath(dir), numbered(1, 10))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Logs(ctx, LogQuery{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Logs after cancel: %v", err)
	}
}

// TestDiagBundle: a zip with the manifest first, the doctor's report from
// the state (a check runs only when there is none), the version, and
// addresses kept only when asked.
func TestDiagBundle(t *testing.T) {
	dir := t.TempDir()
	inspect, probe := fakeQEMU(false, false)
	var inspects atomic.Int32
	countingInspect := func(ctx context.Context, bin string) (vm.QEMUInfo, error) {
		inspects.Add(1)
		return inspect(ctx, bin)
	}
	s := New(Options{Root: t.TempDir(), DataDir: dir, NVML: noNVML(), Inspect: countingInspect, Probe: probe,
		ImageCacheDir: t.TempDir(), Version: "cocoon-provider 9.8.7",
		Now: func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }})
	defer s.Close()
	addr := wallet.NewAddress(0, sha256.Sum256([]byte("owner")), false, false).Display()
	writeLog(t, AppLogPath(dir), "level=INFO msg=started owner="+addr+"\n")

	read := func(data []byte) map[string]string {
		t.Helper()
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("not a zip: %v", err)
		}
		files := map[string]string{}
		for i, f := range zr.File {
			if i == 0 && f.Name != "manifest.txt" {
				t.Errorf("first file %s", f.Name)
			}
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			files[f.Name] = string(b)
		}
		return files
	}

	var buf bytes.Buffer
	m, err := s.DiagBundle(context.Background(), &buf, false)
	if err != nil {
		t.Fatal(err)
	}
	if inspects.Load() != 1 {
		t.Errorf("%d checks ran, want 1 (there was no report yet)", inspects.Load())
	}
	files := read(buf.Bytes())
	for _, name := range []string{"manifest.txt", "system.txt", "doctor.json", "gpus.json", "logs/app.log"} {
		if _, ok := files[name]; !ok {
			t.Errorf("the bundle lacks %s", name)
		}
	}
	if m.Version != "cocoon-provider 9.8.7" || !strings.Contains(files["manifest.txt"], "cocoon-provider 9.8.7") || m.AddressesKept {
		t.Errorf("manifest %+v", m)
	}
	if strings.Contains(files["logs/app.log"], addr) || m.Redactions["address"] != 1 {
		t.Errorf("the address was not hidden: %q, redactions %v", files["logs/app.log"], m.Redactions)
	}
	if len(m.Files) != len(files) || m.Files[0].Name != "manifest.txt" {
		t.Errorf("manifest lists %v", m.Files)
	}

	buf.Reset()
	m, err = s.DiagBundle(context.Background(), &buf, true)
	if err != nil {
		t.Fatal(err)
	}
	if inspects.Load() != 1 {
		t.Errorf("a second bundle ran the check again (%d checks); the state had a report", inspects.Load())
	}
	if files := read(buf.Bytes()); !m.AddressesKept || !strings.Contains(files["logs/app.log"], addr) {
		t.Errorf("addresses not kept: %+v", m)
	}

	if _, err := New(Options{NVML: noNVML(), Inspect: inspect, Probe: probe, Root: t.TempDir()}).DiagBundle(context.Background(), io.Discard, false); err == nil {
		t.Error("no data directory: no error")
	}
}
