package tray

import (
	"os"

	"github.com/godbus/dbus/v5"
)

// watcher is the D-Bus name of the StatusNotifierItem host that Linux trays use.
const watcher = "org.kde.StatusNotifierWatcher"

// Available reports whether a tray host is running, and if not, why.
func Available() (bool, string) {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" && os.Getenv("XDG_RUNTIME_DIR") == "" {
		return false, "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)"
	}
	conn, err := dbus.SessionBusPrivateNoAutoStartup()
	if err != nil {
		return false, "cannot connect to the D-Bus session bus: " + err.Error()
	}
	defer conn.Close()
	if err := conn.Auth(nil); err != nil {
		return false, "D-Bus session bus refused us: " + err.Error()
	}
	if err := conn.Hello(); err != nil {
		return false, "D-Bus session bus refused us: " + err.Error()
	}
	var has bool
	if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, watcher).Store(&has); err != nil {
		return false, "cannot ask D-Bus for a tray host: " + err.Error()
	}
	if !has {
		return false, "no system tray host is running (nothing owns " + watcher + " on the session bus)"
	}
	return true, ""
}
