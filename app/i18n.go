package app

import (
	"embed"
	"os"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/lang"
)

// translations holds the UI texts by language. The key of each text is its
// English wording (lang.L("Pause 30 min")); texts with values are
// templates ("Paused until {{.Time}}"). Fyne picks the language from the
// system locale (LANGUAGE, LC_ALL, LC_MESSAGES, LANG) and falls back to
// English, unless the user chose one in the Settings tab
// (applyLanguage).
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

// applyLanguage makes the language chosen in the Settings tab (the
// preference prefLanguage; empty follows the system) the UI's. Fyne has
// no call to switch the language, and widgets keep the texts they were
// built with, so Run calls it once before building the window: a change
// applies at the next start. Fyne reads the language from LANGUAGE when
// translations are added; it is set for that moment only, so child
// processes keep the environment they had.
func applyLanguage(prefs fyne.Preferences) {
	code := prefs.String(prefLanguage)
	if code == "" {
		return
	}
	old, had := os.LookupEnv("LANGUAGE")
	if err := os.Setenv("LANGUAGE", code); err != nil {
		fyne.LogError("Could not choose the language", err)
		return
	}
	if err := lang.AddTranslationsFS(translations, "translations"); err != nil {
		fyne.LogError("Could not load the translations", err)
	}
	if had {
		_ = os.Setenv("LANGUAGE", old) // it was set a moment ago; this cannot fail where that did not
	} else {
		_ = os.Unsetenv("LANGUAGE")
	}
}

// vals is the data of a translated template.
type vals = map[string]any
