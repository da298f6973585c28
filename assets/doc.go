// Package assets embeds the app's icons. It holds no logic.
package assets

import (
	_ "embed"

	"fyne.io/fyne/v2"
)

//go:embed icon.png
var iconPNG []byte

// Icon is the application icon, also used for the tray.
var Icon = fyne.NewStaticResource("cocoon-provider.png", iconPNG)
