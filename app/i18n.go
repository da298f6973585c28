package app

import (
	"embed"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/lang"
)

// translations holds the UI texts by language. The key of each text is its
// English wording (lang.L("Pause 30 min")); texts with values are
// templates ("Paused until {{.Time}}"). Fyne picks the language from the
// system locale (LANGUAGE, LC_ALL, LC_MESSAGES, LANG) and falls back to
// English.
//
//go:embed translations/*.json
var translations embed.FS

var registerOnce sync.Once

// registerTranslations adds the app's translations to Fyne's; only the
// first call does anything.
func registerTranslations() {
	registerOnce.Do(func() {
		if err := lang.AddTranslationsFS(translations, "translations"); err != nil {
			fyne.LogError("Could not load the translations", err)
		}
	})
}

// vals is the data of a translated template.
type vals = map[string]any
