// Package tray puts the app's icon and menu in the desktop's system tray.
package tray

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
)

// Setup adds the tray icon with a menu that opens the window and quits.
// It returns false when the driver has no tray support.
func Setup(a fyne.App, icon fyne.Resource, open, quit func()) bool {
	desk, ok := a.(desktop.App)
	if !ok {
		return false
	}
	openItem := fyne.NewMenuItem("Open Cocoon Provider", open)
	quitItem := fyne.NewMenuItem("Quit", quit)
	quitItem.IsQuit = true
	desk.SetSystemTrayMenu(fyne.NewMenu("Cocoon Provider", openItem, fyne.NewMenuItemSeparator(), quitItem))
	desk.SetSystemTrayIcon(icon)
	return true
}
