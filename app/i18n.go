package app

import (
	"embed"
	"maps"
	"os"
	"strconv"
	"strings"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/lang"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
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

// Texts from the engine. The engine writes its texts in English and
// names the fixed wording of each with a key ("check.kvm_device.title",
// "pause.hot", "alert.gpu_hot.title") and the values it embeds; the app
// shows the key's translation and falls back to the English text when a
// translation file lacks the key (an engine newer than the app, or an
// engine text with no key). Keys of this kind are the dotted names in the
// translation files; TestEngineTextsTranslated checks them.

// engineText translates an engine text by its key; args are the values
// its template embeds. In English it is the engine's own text: en.json
// holds the same wording (TestEngineTextsTranslated), but an engine of
// another version may word it differently.
func engineText(key, english string, args map[string]string) string {
	if key == "" || (english != "" && currentLocale().code == "en") {
		return english
	}
	data := make(vals, len(args))
	for k, v := range args {
		data[k] = v
	}
	return lang.X(key, english, data)
}

// checkTitle is a doctor check's title in the UI's language.
func checkTitle(c hostcheck.Check) string { return engineText(c.TitleKey(), c.Title, nil) }

// checkWhy is why a doctor check matters, in the UI's language.
func checkWhy(c hostcheck.Check) string { return engineText(c.WhyKey(), c.Why, nil) }

// checkFix is a doctor check's fix in the UI's language.
func checkFix(c hostcheck.Check) string { return engineText(c.FixKey, c.Fix, c.FixArgs) }

// statusText is a check status in words ("warn" in English).
func statusText(s hostcheck.Status) string {
	return engineText("status."+string(s), string(s), nil)
}

// verdictText is a verdict's summary in the UI's language, made from its
// checks as the engine makes the English one (hostcheck.Verdict.Summary).
func verdictText(r hostcheck.Report, v hostcheck.Verdict) string {
	titles := func(ids []string) string {
		var out []string
		for _, id := range ids {
			if c, ok := r.Check(id); ok {
				out = append(out, checkTitle(c))
			}
		}
		return strings.Join(out, lang.X("list.separator", "; "))
	}
	key := ""
	args := map[string]string{}
	switch {
	case v.Mode == hostcheck.ModeProduction && !v.Ready:
		key, args["Checks"] = "verdict.production.blocked", titles(v.Blocking)
	case v.Mode == hostcheck.ModeProduction && len(v.Unconfirmed) > 0:
		key, args["Checks"] = "verdict.production.unconfirmed", titles(v.Unconfirmed)
	case v.Mode == hostcheck.ModeProduction:
		key = "verdict.production.ready"
	case v.Mode != hostcheck.ModeDev:
	case !v.Ready:
		key, args["Checks"] = "verdict.dev.blocked", titles(v.Blocking)
	case r.DevAccel == "kvm":
		key = "verdict.dev.kvm"
	default:
		key = "verdict.dev.tcg"
	}
	return engineText(key, v.Summary, args)
}

// pauseReason is why the engine paused, in the UI's language.
func pauseReason(p engine.Pause) string { return engineText(p.ReasonKey, p.Reason, p.ReasonArgs) }

// alertTitle is an alert's title in the UI's language; a payout's
// amount is written in the locale's form.
func alertTitle(a engine.Alert) string {
	args := a.TitleArgs
	if nano, err := strconv.ParseInt(args["NanoTON"], 10, 64); err == nil {
		args = maps.Clone(args)
		args["Amount"] = currentLocale().ton(nano)
	}
	return engineText(a.TitleKey, a.Title, args)
}
