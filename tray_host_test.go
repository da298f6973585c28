//go:build integration && !nogui

package main

import (
	"testing"

	"github.com/godbus/dbus/v5"
)

// trayHost is a minimal StatusNotifierWatcher on a private session bus: the
// part of a desktop panel that tray icons register with.
type trayHost struct {
	addr       string
	conn       *dbus.Conn
	registered chan string
}

func startTrayHost(tb testing.TB) *trayHost {
	tb.Helper()
	need(tb, "dbus-daemon", "dbus-daemon")
	addr := startDaemon(tb, "dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=3")
	conn, err := dbus.Connect(addr)
	if err != nil {
		tb.Fatalf("connect to the test bus: %v", err)
	}
	tb.Cleanup(func() { conn.Close() })
	h := &trayHost{addr: addr, conn: conn, registered: make(chan string, 4)}
	if err := conn.Export(watcher{h}, "/StatusNotifierWatcher", "org.kde.StatusNotifierWatcher"); err != nil {
		tb.Fatal(err)
	}
	reply, err := conn.RequestName("org.kde.StatusNotifierWatcher", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		tb.Fatalf("own the watcher name: %v (%v)", reply, err)
	}
	return h
}

type watcher struct{ h *trayHost }

// RegisterStatusNotifierItem is called by a tray icon; sender is its bus name.
func (w watcher) RegisterStatusNotifierItem(sender dbus.Sender, _ string) *dbus.Error {
	w.h.registered <- string(sender)
	return nil
}

// menuLayout is the com.canonical.dbusmenu layout node.
type menuLayout struct {
	ID       int32
	Props    map[string]dbus.Variant
	Children []dbus.Variant
}

// menu returns the tray menu's labels and item IDs.
func (h *trayHost) menu(tb testing.TB, item string) map[string]int32 {
	tb.Helper()
	var rev uint32
	var root menuLayout
	call := h.conn.Object(item, "/StatusNotifierMenu").Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{})
	if err := call.Store(&rev, &root); err != nil {
		tb.Fatalf("read the tray menu: %v", err)
	}
	items := map[string]int32{}
	for _, c := range root.Children {
		var l menuLayout
		if err := dbus.Store([]any{c.Value()}, &l); err != nil {
			tb.Fatalf("menu item: %v", err)
		}
		if label, ok := l.Props["label"].Value().(string); ok {
			items[label] = l.ID
		}
	}
	return items
}

// click sends a menu click, as a panel does.
func (h *trayHost) click(tb testing.TB, item string, id int32) {
	tb.Helper()
	call := h.conn.Object(item, "/StatusNotifierMenu").Call("com.canonical.dbusmenu.Event", 0, id, "clicked", dbus.MakeVariant(""), uint32(0))
	if call.Err != nil {
		tb.Fatalf("click menu item %d: %v", id, call.Err)
	}
}
