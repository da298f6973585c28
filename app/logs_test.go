package app

import (
	"archive/zip"
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/diag"
	"github.com/cocoon-provider/cocoon-provider/engine/enginetest"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
)

// countingAPI is the fake engine counting Logs calls.
type countingAPI struct {
	*enginetest.Fake
	logs atomic.Int32
}

func (a *countingAPI) Logs(ctx context.Context, q engine.LogQuery) (engine.LogPage, error) {
	a.logs.Add(1)
	return a.Fake.Logs(ctx, q)
}

func TestLogsViewShowsSearchesAndSwitches(t *testing.T) {
	test.NewTempApp(t)
	fake := enginetest.New(engine.State{}, hostcheck.Report{}, gpu.Inventory{})
	fake.SetLogs(engine.LogApp, []string{"level=INFO msg=started", "level=ERROR msg=\"disk full\"", "level=INFO msg=ready"})
	fake.SetLogs(engine.LogConsole, []string{"[    0.000000] Linux version 6.12", "cocoon login:"})
	api := &countingAPI{Fake: fake}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := newLogsView(ctx, api)
	v.auto.every = time.Hour // no refresh but the test's own
	if api.logs.Load() != 0 {
		t.Fatal("a hidden tab read the log")
	}
	v.setVisible(ctx, true)
	waitShown(t, v.shown)
	if want := "level=INFO msg=started\nlevel=ERROR msg=\"disk full\"\nlevel=INFO msg=ready"; v.text.Text != want {
		t.Errorf("lines %q, want %q", v.text.Text, want)
	}
	if !v.text.TextStyle.Monospace || v.count.Text != "3 lines" {
		t.Errorf("monospace %v, count %q", v.text.TextStyle.Monospace, v.count.Text)
	}
	if q := fake.LastLogQuery(); q.Source != engine.LogApp || q.Contains != "" || q.Limit != logsLimit {
		t.Errorf("asked %+v", q)
	}

	// Typing searches once the keystrokes pause.
	before := api.logs.Load()
	search := func(text string) {
		t.Helper()
		select {
		case <-v.searched:
		default:
		}
		v.search.SetText("")
		test.Type(v.search, text)
		// The test driver redraws the entry on this goroutine after its
		// OnChanged ran: this orders the redraw before the search too.
		v.keys.Add(0)
		select {
		case done := <-v.searched:
			waitShown(t, done)
		case <-time.After(10 * time.Second):
			t.Fatalf("no search for %q", text)
		}
	}
	search("ERROR")
	if v.text.Text != "level=ERROR msg=\"disk full\"" || v.count.Text != "1 line match 'ERROR'" {
		t.Errorf("search ERROR: %q, count %q", v.text.Text, v.count.Text)
	}
	if q := fake.LastLogQuery(); q.Contains != "ERROR" {
		t.Errorf("asked %+v", q)
	}
	if n := api.logs.Load() - before; n != 1 {
		t.Errorf("six keystrokes read the log %d times, want once", n)
	}
	search("nothing")
	if v.text.Text != "" || v.count.Text != "no lines match 'nothing'" {
		t.Errorf("no match: %q, count %q", v.text.Text, v.count.Text)
	}
	search("")
	if v.count.Text != "3 lines" {
		t.Errorf("all lines again: count %q", v.count.Text)
	}

	// The VM console.
	v.source.SetSelected("VM console")
	waitShown(t, v.shown)
	if v.text.Text != "[    0.000000] Linux version 6.12\ncocoon login:" || v.count.Text != "2 lines" {
		t.Errorf("console %q, count %q", v.text.Text, v.count.Text)
	}
	if q := fake.LastLogQuery(); q.Source != engine.LogConsole || q.Instance != 0 {
		t.Errorf("asked %+v", q)
	}
	fake.SetLogs(engine.LogConsole, nil)
	waitShown(t, v.refresh(ctx))
	if !strings.HasPrefix(v.count.Text, "No VM console output yet") {
		t.Errorf("empty console: %q", v.count.Text)
	}

	// Hidden, the tab reads nothing more.
	v.setVisible(ctx, false)
	if v.auto.stop != nil {
		t.Error("the automatic refresh still runs while hidden")
	}
}

func TestLogsCountText(t *testing.T) {
	q := engine.LogQuery{Limit: 500}
	many := make([]string, 500)
	for _, c := range []struct {
		q    engine.LogQuery
		p    engine.LogPage
		want string
	}{
		{q, engine.LogPage{Lines: many[:312]}, "312 lines"},
		{q, engine.LogPage{Lines: many, Truncated: true}, "500 lines · newest 500 shown, the log holds more"},
		{q, engine.LogPage{}, "The app log is empty."},
		{engine.LogQuery{Limit: 500, Contains: "xyz"}, engine.LogPage{}, "no lines match 'xyz'"},
		{engine.LogQuery{Limit: 500, Contains: "xyz"}, engine.LogPage{Lines: many[:12], Truncated: true}, "12 lines match 'xyz' · older lines were not searched"},
		{engine.LogQuery{Limit: 500, Contains: "xyz"}, engine.LogPage{Lines: many, Truncated: true}, "500 lines match 'xyz' · newest 500 shown, older lines may match too"},
	} {
		if got := countText(c.q, c.p); got != c.want {
			t.Errorf("countText(%+v, %d lines, truncated %v) = %q, want %q", c.q, len(c.p.Lines), c.p.Truncated, got, c.want)
		}
	}
}

func TestLogsDiagnosticBundle(t *testing.T) {
	test.NewTempApp(t)
	api := enginetest.New(engine.State{}, hostcheck.Report{}, gpu.Inventory{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := newLogsView(ctx, api)
	v.now = func() time.Time { return time.Date(2026, 3, 1, 9, 5, 7, 0, time.Local) }
	if got := diagFileName(v.now()); got != "cocoon-provider-diag-20260301-090507.zip" {
		t.Errorf("default name %q", got)
	}

	v.openDiag(ctx)
	if !strings.Contains(v.status.Text, "needs the app window") {
		t.Errorf("without a window: %q", v.status.Text)
	}
	w := test.NewWindow(v.content)
	defer w.Close()
	w.Resize(fyne.NewSize(900, 700))
	v.window = w
	v.openDiag(ctx)
	if v.diagAddrs == nil || v.diagAddrs.Checked {
		t.Fatal("the bundle dialog offers addresses checked (or no checkbox)")
	}
	if v.diagAddrs.Text != "Include TON addresses (they identify your wallet)" {
		t.Errorf("checkbox %q", v.diagAddrs.Text)
	}
	if w.Canvas().Overlays().Top() == nil {
		t.Error("no dialog shown")
	}
	for _, want := range []string{"Recovery phrases, keys, tokens", "TON addresses too, unless you include them", "never included", "manifest.txt"} {
		if !strings.Contains(diagExplanation(), want) {
			t.Errorf("the dialog does not say %q", want)
		}
	}

	path := filepath.Join(t.TempDir(), "bundle.zip")
	wc, err := storage.Writer(storage.NewFileURI(path))
	if err != nil {
		t.Fatal(err)
	}
	waitShown(t, v.writeDiag(ctx, wc, false))
	if want := "Saved " + path + " (1 file, 0 redactions)"; v.status.Text != want {
		t.Errorf("status %q, want %q", v.status.Text, want)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("the saved file is not a zip: %v", err)
	}
	zr.Close()
	if n, include := api.DiagCalls(); n != 1 || include {
		t.Errorf("bundles %d, include addresses %v", n, include)
	}
	if v.diagBtn.Disabled() {
		t.Error("the bundle button stays disabled")
	}
	if got := diagSavedText("/tmp/x.zip", diag.Manifest{Files: make([]diag.File, 7),
		Redactions: map[diag.Kind]int{diag.KindAddress: 2, diag.KindToken: 1}, AddressesKept: true}); got != "Saved /tmp/x.zip (7 files, 3 redactions) · TON addresses included" {
		t.Errorf("saved text %q", got)
	}
}

// TestMainViewHasLogsTab: the tab is there and refreshes only when shown.
func TestMainViewHasLogsTab(t *testing.T) {
	test.NewTempApp(t)
	api := enginetest.New(engine.State{}, hostcheck.Report{}, gpu.Inventory{})
	api.SetLogs(engine.LogApp, []string{"hello"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := newMainView(ctx, newAPISwitch(api, ""), fyne.CurrentApp().Preferences())
	if v.logs == nil || v.logs.visible {
		t.Fatal("no Logs view, or visible at start")
	}
	var tabs *container.AppTabs
	for _, o := range v.content.(*fyne.Container).Objects {
		if at, ok := o.(*container.AppTabs); ok {
			tabs = at
		}
	}
	if tabs == nil {
		t.Fatal("no tabs")
	}
	var logsTab, first *container.TabItem
	for _, ti := range tabs.Items {
		if ti.Text == "Logs" {
			logsTab = ti
		}
	}
	first = tabs.Items[0]
	if logsTab == nil {
		t.Fatalf("no Logs tab among %d tabs", len(tabs.Items))
	}
	tabs.Select(logsTab)
	if !v.logs.visible || v.earnings.visible {
		t.Fatal("selecting Logs did not show it")
	}
	waitShown(t, v.logs.shown)
	if v.logs.text.Text != "hello" {
		t.Errorf("Logs tab lines %q", v.logs.text.Text)
	}
	tabs.Select(first)
	if v.logs.visible || v.logs.auto.stop != nil {
		t.Error("leaving the Logs tab did not hide it")
	}
}
