// Package tray puts the app's icon and menu in the desktop's system tray.
package tray

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
)

// Setup adds the tray icon with menu. The icon is set once; the caller
// updates the menu's items in place and calls menu.Refresh (never a new
// menu or icon in a loop: the driver leaks on each). It returns false when
// the driver has no tray support.
func Setup(a fyne.App, icon fyne.Resource, menu *fyne.Menu) bool {
	desk, ok := a.(desktop.App)
	if !ok {
		return false
	}
	desk.SetSystemTrayMenu(menu)
	desk.SetSystemTrayIcon(icon)
	return true
}

// SetIcon replaces the tray icon. Call it only when what the icon shows
// changes: every call costs the driver memory.
func SetIcon(a fyne.App, icon fyne.Resource) {
	if desk, ok := a.(desktop.App); ok {
		desk.SetSystemTrayIcon(icon)
	}
}
