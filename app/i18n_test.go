package app

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"fyne.io/fyne/v2/lang"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/enginetest"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
)

// The tests run with the app's translations in English, whatever the
// locale of the machine running them (their assertions read English).
func init() {
	os.Setenv("LANGUAGE", "en")
	registerTranslations()
}

// languages are the translation files the app ships.
var languages = []string{"en", "ru", "uk", "fr", "ar"}

// sourceKeys returns the key literals of every lang.L and lang.X call in
// the package's Go files (tests included), with where each is used.
func sourceKeys(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "lang" {
				return true
			}
			switch sel.Sel.Name {
			case "L", "X", "Localize", "LocalizeKey":
			default:
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if (!ok || lit.Kind != token.STRING) && name == "i18n.go" {
				return true // engineText: keys of engine texts, see TestEngineTextsTranslated
			}
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: lang.%s with a key that is not a string literal", fset.Position(call.Pos()), sel.Sel.Name)
				return true
			}
			key, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			keys[key] = fset.Position(call.Pos()).String()
			return true
		})
	}
	return keys
}

func readTranslations(t *testing.T, code string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("translations", code+".json"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s.json: %v", code, err)
	}
	return m
}

// engineKey matches the keys of engine texts ("check.kvm_device.title"),
// which TestEngineTextsTranslated checks instead.
var engineKey = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)+$`)

var placeholder = regexp.MustCompile(`{{\s*\.(\w+)\s*}}`)

// placeholders are the template fields of s, sorted, with repeats.
func placeholders(s string) []string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return out
}

// TestTranslationsCoverSources: every key in the code is in every
// translation file with the same placeholders, English maps each key to
// itself, and the files hold no key the code no longer uses.
func TestTranslationsCoverSources(t *testing.T) {
	keys := sourceKeys(t)
	if len(keys) < 50 {
		t.Fatalf("only %d keys found in the sources", len(keys))
	}
	for _, code := range languages {
		tr := readTranslations(t, code)
		for key, at := range keys {
			v, ok := tr[key]
			switch {
			case !ok:
				t.Errorf("%s.json lacks %q (used at %s)", code, key, at)
			case strings.TrimSpace(v) == "":
				t.Errorf("%s.json: empty text for %q", code, key)
			case !reflect.DeepEqual(placeholders(v), placeholders(key)):
				t.Errorf("%s.json: %q has placeholders %v, want %v", code, v, placeholders(v), placeholders(key))
			case code == "en" && v != key && !engineKey.MatchString(key):
				t.Errorf("en.json: %q maps to %q", key, v)
			}
		}
		for key := range tr {
			if _, ok := keys[key]; !ok && !engineKey.MatchString(key) {
				t.Errorf("%s.json: %q is not used in the code", code, key)
			}
		}
	}
}

// withLocale makes Fyne translate for the language code until the test
// ends. Fyne reads the locale from the environment when translations are
// added, so it sets LANGUAGE and adds the app's translations again.
func withLocale(t *testing.T, code string) {
	t.Cleanup(func() {
		// Runs after t.Setenv has put the environment back.
		if err := lang.AddTranslationsFS(translations, "translations"); err != nil {
			t.Error(err)
		}
	})
	t.Setenv("LANGUAGE", code)
	t.Setenv("LC_ALL", "")
	t.Setenv("LC_MESSAGES", "")
	t.Setenv("LANG", code+".UTF-8")
	if err := lang.AddTranslationsFS(translations, "translations"); err != nil {
		t.Fatal(err)
	}
}

// TestTrayMenuInRussian: with a Russian locale the tray menu is in Russian,
// and the default locale gives English back afterwards.
func TestTrayMenuInRussian(t *testing.T) {
	before := lang.L("Open dashboard")
	t.Run("ru", func(t *testing.T) {
		withLocale(t, "ru")
		api := enginetest.New(engine.State{Mode: engine.ModeDev}, hostcheck.Report{}, gpu.Inventory{})
		m := newTrayMenu(t.Context(), api, func() {}, func() {}, func(string) {})
		labels := map[string]bool{}
		for _, it := range m.menu.Items {
			labels[it.Label] = true
		}
		for _, want := range []string{"Пауза на 30 минут", "Открыть панель", "Выйти"} {
			if !labels[want] {
				t.Errorf("no %q in the Russian tray menu: %v", want, labels)
			}
		}
		if got := bannerText("host:9311"); !strings.HasPrefix(got, "Удалённый хост host:9311 · ") {
			t.Errorf("Russian banner: %q", got)
		}
	})
	if got := lang.L("Open dashboard"); got != before {
		t.Errorf("after the Russian test: %q, before it %q", got, before)
	}
}
