package app

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
)

// hostcheckKeys lists the keys of every doctor check's texts from
// engine/hostcheck's sources: each Check{ID: …} literal gives the title
// and why keys, each c.fix("name", …) in the same function a fix key.
func hostcheckKeys(t *testing.T) (ids []string, keys []string) {
	t.Helper()
	files, err := filepath.Glob("../engine/hostcheck/*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	str := func(e ast.Expr) string {
		lit, ok := e.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return ""
		}
		s, _ := strconv.Unquote(lit.Value)
		return s
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			id := ""
			var fixes []string
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CompositeLit:
					if typ, ok := n.Type.(*ast.Ident); ok && typ.Name == "Check" {
						for _, el := range n.Elts {
							if kv, ok := el.(*ast.KeyValueExpr); ok && kv.Key.(*ast.Ident).Name == "ID" {
								id = str(kv.Value)
							}
						}
					}
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "fix" && len(n.Args) == 2 {
						fixes = append(fixes, str(n.Args[0]))
					}
				}
				return true
			})
			if id == "" {
				continue
			}
			ids = append(ids, id)
			keys = append(keys, "check."+id+".title", "check."+id+".why")
			for _, fx := range fixes {
				keys = append(keys, "check."+id+".fix."+fx)
			}
		}
	}
	return ids, keys
}

// engineKeys are every key of an engine text the app translates.
func engineKeys(t *testing.T) []string {
	_, keys := hostcheckKeys(t)
	keys = append(keys, engine.ReasonKeys...)
	keys = append(keys, engine.AlertTitleKeys...)
	keys = append(keys, "locale.code", "list.separator",
		"verdict.production.blocked", "verdict.production.unconfirmed", "verdict.production.ready",
		"verdict.dev.blocked", "verdict.dev.kvm", "verdict.dev.tcg")
	for _, s := range []hostcheck.Status{hostcheck.StatusOK, hostcheck.StatusWarn, hostcheck.StatusFail, hostcheck.StatusUnknown} {
		keys = append(keys, "status."+string(s))
	}
	return keys
}

var digits = regexp.MustCompile(`\d`)

// TestEngineTextsTranslated: every engine text key is in every
// translation file, with the placeholders of the English one (and, for
// the checks, the same digits: the numbers are the engine's constants);
// the files hold no engine key the engine no longer has.
func TestEngineTextsTranslated(t *testing.T) {
	ids, _ := hostcheckKeys(t)
	if len(ids) < 21 {
		t.Fatalf("only %d checks found in engine/hostcheck: %v", len(ids), ids)
	}
	keys := engineKeys(t)
	en := readTranslations(t, "en")
	for _, code := range languages {
		tr := readTranslations(t, code)
		for _, key := range keys {
			v, ok := tr[key]
			switch {
			case !ok:
				t.Errorf("%s.json lacks %q", code, key)
			case strings.TrimSpace(v) == "" && key != "list.separator":
				t.Errorf("%s.json: empty text for %q", code, key)
			case !reflect.DeepEqual(placeholders(v), placeholders(en[key])):
				t.Errorf("%s.json: %q has placeholders %v, want %v", code, key, placeholders(v), placeholders(en[key]))
			case strings.HasPrefix(key, "check.") && !slices.Equal(sortedDigits(v), sortedDigits(en[key])):
				t.Errorf("%s.json: %q has other numbers than English: %q", code, key, v)
			}
		}
		for key := range tr {
			if engineKey.MatchString(key) && !slices.Contains(keys, key) {
				t.Errorf("%s.json: %q is no engine text", code, key)
			}
		}
	}
}

func sortedDigits(s string) []string {
	d := digits.FindAllString(placeholder.ReplaceAllString(s, ""), -1)
	slices.Sort(d)
	return d
}

// fixtureReports runs the doctor over engine/hostcheck's fixture hosts
// in several states, so that most fixes appear.
func fixtureReports(t *testing.T) []hostcheck.Report {
	disk := func(free uint64) func(context.Context, string) (uint64, string, error) {
		return func(context.Context, string) (uint64, string, error) { return free, "/srv", nil }
	}
	h100 := func(driver string) hostcheck.GPU {
		return hostcheck.GPU{PCIBusID: "0000:17:00.0", Name: "NVIDIA H100 80GB HBM3", VendorID: "10de", DeviceID: "2330",
			Driver: driver, CCCapable: true, CCMode: "on", MemoryMiB: 81559, IOMMUGroup: "30"}
	}
	eligible := func() hostcheck.Inputs {
		return hostcheck.Inputs{Root: "../engine/hostcheck/testdata/hosts/tdx-h100", DataDir: t.TempDir(), DiskFree: disk(2 << 40),
			QEMU: hostcheck.QEMUFacts{Found: true, Path: "/usr/bin/qemu-system-x86_64", Banner: "QEMU emulator version 10.1.0", Major: 10, Minor: 1, TDX: true},
			KVM:  hostcheck.ProbeFacts{Ran: true, OK: true, Duration: 40 * time.Millisecond},
			TCG:  hostcheck.ProbeFacts{Ran: true, OK: true, Duration: 100 * time.Millisecond},
			NVML: hostcheck.NVMLFacts{Reason: "NVIDIA library not found"}, GPUs: []hostcheck.GPU{h100("vfio-pci")}}
	}
	nested := func() hostcheck.Inputs {
		return hostcheck.Inputs{Root: "../engine/hostcheck/testdata/hosts/devbox-nested-kvm", DataDir: t.TempDir(), DiskFree: disk(80 << 30),
			QEMU: hostcheck.QEMUFacts{Found: true, Path: "/usr/bin/qemu-system-x86_64", Banner: "QEMU emulator version 7.2.22", Major: 7, Minor: 2},
			KVM:  hostcheck.ProbeFacts{Ran: true, Reason: "QEMU failed"},
			TCG:  hostcheck.ProbeFacts{Ran: true, OK: true, Duration: 110 * time.Millisecond},
			NVML: hostcheck.NVMLFacts{Reason: "NVIDIA library not found"}}
	}
	var out []hostcheck.Report
	for _, in := range []hostcheck.Inputs{eligible(), nested(),
		func() hostcheck.Inputs {
			in := nested()
			in.QEMU = hostcheck.QEMUFacts{}
			in.KVM, in.TCG = hostcheck.ProbeFacts{}, hostcheck.ProbeFacts{}
			return in
		}(),
		func() hostcheck.Inputs {
			in := eligible()
			in.GPUs = []hostcheck.GPU{h100("nvidia")}
			in.DiskFree = disk(1 << 30)
			return in
		}(),
		func() hostcheck.Inputs {
			in := eligible()
			g := h100("vfio-pci")
			g.IOMMUPeers = []hostcheck.PCIPeer{{Address: "0000:18:00.0", Class: "020000", Driver: "ice"}}
			in.GPUs, in.QEMU.TDX, in.DiskFree = []hostcheck.GPU{g}, false, disk(150<<30)
			return in
		}(),
		func() hostcheck.Inputs {
			in := nested()
			in.GPUs = []hostcheck.GPU{{PCIBusID: "0000:01:00.0", Name: "NVIDIA GeForce RTX 4090", VendorID: "10de", DeviceID: "2684", Driver: "nvidia"}}
			in.DataDir = ""
			return in
		}(),
	} {
		out = append(out, hostcheck.Run(t.Context(), in))
	}
	return out
}

// TestEngineTextsMatchEnglish: en.json words every check of the fixture
// runs, its fix with the engine's values and the verdicts exactly as the
// engine does, so English looks the same whichever the app shows; the
// other languages translate all of it.
func TestEngineTextsMatchEnglish(t *testing.T) {
	en := readTranslations(t, "en")
	render := func(key string, args map[string]string) string {
		tpl, err := template.New(key).Parse(en[key])
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := tpl.Execute(&b, args); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	ids, _ := hostcheckKeys(t)
	fixes := map[string]bool{}
	for _, r := range fixtureReports(t) {
		for _, c := range r.Checks {
			if !slices.Contains(ids, c.ID) {
				t.Errorf("check %s is not found in the sources", c.ID)
			}
			for _, p := range [][2]string{{render(c.TitleKey(), nil), c.Title}, {render(c.WhyKey(), nil), c.Why}} {
				if p[0] != p[1] {
					t.Errorf("%s: en.json has %q, the engine %q", c.ID, p[0], p[1])
				}
			}
			if c.FixKey != "" {
				fixes[c.FixKey] = true
				if got := render(c.FixKey, c.FixArgs); got != c.Fix {
					t.Errorf("%s: en.json has %q, the engine %q", c.FixKey, got, c.Fix)
				}
			}
		}
		for _, v := range []hostcheck.Verdict{r.Production, r.Dev} {
			if got := verdictText(r, v); got != v.Summary {
				t.Errorf("verdict: %q, the engine %q", got, v.Summary)
			}
		}
	}
	if len(fixes) < 15 {
		t.Errorf("the fixtures show only %d fixes", len(fixes))
	}
	for _, code := range languages[1:] {
		t.Run(code, func(t *testing.T) {
			withLocale(t, code)
			r := fixtureReports(t)[1]
			for _, c := range r.Checks {
				if c.ID != "qemu" && c.ID != "iommufd" && c.ID != "vhost_vsock" && checkTitle(c) == c.Title {
					t.Errorf("%s: title %q not translated", c.ID, c.Title)
				}
				if checkWhy(c) == c.Why {
					t.Errorf("%s: why not translated", c.ID)
				}
				if c.FixKey != "" && checkFix(c) == c.Fix {
					t.Errorf("%s: fix not translated", c.FixKey)
				}
			}
			if verdictText(r, r.Production) == r.Production.Summary || verdictText(r, r.Dev) == r.Dev.Summary {
				t.Error("verdicts not translated")
			}
		})
	}
}

// TestMachineViewInRussianAndArabic: the doctor's checklist shows the
// translated titles, fixes and verdicts; in Arabic the text is aligned
// to the right.
func TestMachineViewInRussianAndArabic(t *testing.T) {
	test.NewTempApp(t)
	r := fixtureReports(t)[1] // nested KVM: KVM unusable, no TDX, old QEMU
	t.Run("ru", func(t *testing.T) {
		withLocale(t, "ru")
		v := newMachineView()
		v.show(r)
		got := texts(v.content)
		for _, want := range []string{"Эта машина не может зарабатывать в COCOON из-за: ", "Процессор", "KVM запускает гостя",
			"На физическом хосте включите VT-x в BIOS", "ВМ воркера — это доверенный домен Intel TDX"} {
			if !contains(got, want) {
				t.Errorf("no %q in %q", want, got)
			}
		}
		if contains(got, "Why it matters") || contains(got, "KVM runs a guest") {
			t.Errorf("English left: %q", got)
		}
	})
	t.Run("ar", func(t *testing.T) {
		withLocale(t, "ar")
		v := newMachineView()
		v.show(r)
		if !contains(texts(v.content), "KVM يشغّل ضيفًا") {
			t.Errorf("no Arabic title in %q", texts(v.content))
		}
		var walk func(fyne.CanvasObject)
		n := 0
		walk = func(o fyne.CanvasObject) {
			switch w := o.(type) {
			case *widget.Label:
				if w.Wrapping == fyne.TextWrapWord || w.TextStyle.Bold {
					n++
					if w.Alignment != fyne.TextAlignTrailing {
						t.Errorf("%q is not right-aligned", w.Text)
					}
				}
			case *fyne.Container:
				for _, c := range w.Objects {
					walk(c)
				}
			}
		}
		walk(v.list)
		if n == 0 {
			t.Error("no labels checked")
		}
	})
}

// TestPauseAndAlertTexts: pause reasons and alert titles follow the
// language, with the values the engine gave; a text without a key, or a
// key the app does not know, stays in the engine's English.
func TestPauseAndAlertTexts(t *testing.T) {
	power := engine.Pause{Auto: true, Reason: "GPU 1 draws 420 W, above 400 W", ReasonKey: engine.ReasonKeyPowerHigh,
		ReasonArgs: map[string]string{"GPU": "1", "Watts": "420", "Limit": "400"}}
	payout := engine.Alert{Kind: engine.AlertPayout, Title: "Payout arrived: 0.52 TON", TitleKey: "alert.payout.title",
		TitleArgs: map[string]string{"NanoTON": "520000000"}}
	hot := engine.Alert{Kind: engine.AlertGPUHot, Title: "GPU too hot: 90 °C", TitleKey: "alert.gpu_hot.title", TitleArgs: map[string]string{"TempC": "90"}}
	old := engine.Pause{Auto: true, Reason: "GPU too hot"}
	unknown := engine.Pause{Auto: true, Reason: "a newer reason", ReasonKey: "pause.newer"}
	for _, tc := range []struct {
		code                           string
		power, payout, hot, old, newer string
	}{
		{"en", power.Reason, payout.Title, hot.Title, old.Reason, unknown.Reason},
		{"ru", "GPU 1 потребляет 420 Вт, больше 400 Вт", "Поступила выплата: 0,52 TON", "GPU перегрелся: 90 °C", old.Reason, unknown.Reason},
		{"uk", "GPU 1 споживає 420 Вт, більше ніж 400 Вт", "Надійшла виплата: 0,52 TON", "GPU перегрівся: 90 °C", old.Reason, unknown.Reason},
		{"fr", "le GPU 1 consomme 420 W, au-dessus de 400 W", "Paiement reçu : 0,52 TON", "GPU trop chaud : 90 °C", old.Reason, unknown.Reason},
		{"ar", "وحدة GPU رقم 1 تستهلك 420 واط، أكثر من 400 واط", "وصلت دفعة: 0.52 TON", "وحدة GPU ساخنة جدًا: 90 °م", old.Reason, unknown.Reason},
	} {
		t.Run(tc.code, func(t *testing.T) {
			withLocale(t, tc.code)
			for _, c := range []struct{ got, want string }{
				{pauseReason(power), tc.power}, {alertTitle(payout), tc.payout}, {alertTitle(hot), tc.hot},
				{pauseReason(old), tc.old}, {pauseReason(unknown), tc.newer},
			} {
				if c.got != c.want {
					t.Errorf("got %q, want %q", c.got, c.want)
				}
			}
		})
	}
}
