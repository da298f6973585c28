package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/enginetest"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

const (
	wizardWords = "diet diet attack autumn expose honey skate lounge holiday opinion village priority major enroll romance famous motor pact hello rubber express warfare rose whisper"
	wizardOwner = "UQDLTJygXw37n7upvx2nP3LPmims2cwjqR3XR9V75zSazoTN"
)

func wait(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("the background operation never showed its result")
	}
}

func newTestWizard(t *testing.T, r hostcheck.Report) (*wizard, *enginetest.Fake, fyne.Clipboard, *bool) {
	t.Helper()
	a := test.NewTempApp(t)
	api := enginetest.New(engine.State{Mode: engine.ModeDev}, r, gpu.Inventory{})
	closed := new(bool)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := newWizard(ctx, api, a.Clipboard(), func() { *closed = true })
	return w, api, a.Clipboard(), closed
}

var cannotEarn = hostcheck.Report{
	Checks: []hostcheck.Check{
		{ID: "tdx", Title: "Intel TDX", Status: hostcheck.StatusFail, DevStatus: hostcheck.StatusOK, Observed: "no TDX module", Why: "confidential VMs", Fix: "use a TDX-capable CPU"},
		{ID: "kernel", Title: "Linux kernel", Status: hostcheck.StatusOK, Observed: "6.16"},
	},
	Production: hostcheck.Verdict{Summary: "cannot earn"}, Dev: hostcheck.Verdict{Ready: true, Summary: "dev ok"}, DevAccel: "kvm",
}

// TestWizardWalksEveryStep goes through the six steps against the fake
// engine: the verdict and fix lines, an address checked as typed, the
// price saved, the image explained, the funding link and QR code, and the
// start with the first requests.
func TestWizardWalksEveryStep(t *testing.T) {
	w, api, clip, closed := newTestWizard(t, cannotEarn)

	// 1. Machine check.
	wait(t, w.pending)
	got := texts(w.content)
	for _, want := range []string{"Step 1 of 6", "It cannot, because of: Intel TDX; you can still try dev mode.", "Fix: use a TDX-capable CPU", "Dev mode: nothing is earned."} {
		if !contains(got, want) {
			t.Errorf("step 1 lacks %q", want)
		}
	}
	if w.next.Disabled() || !w.back.Disabled() {
		t.Fatal("step 1: Next should be enabled and Back disabled after the check")
	}
	test.Tap(w.next)

	// 2. Wallet: an address, checked as typed.
	wait(t, w.pending)
	ww := w.wallet
	if ww.choice.Selected != "Paste an owner address" || contains(ww.choice.Options, "Keep the current setup") {
		t.Fatalf("wallet choices %v, selected %q", ww.choice.Options, ww.choice.Selected)
	}
	test.Type(ww.address, "EQnot-an-address")
	if ww.addrStatus.Importance != widget.DangerImportance || ww.addrStatus.Text == "" {
		t.Errorf("bad address status %q", ww.addrStatus.Text)
	}
	if !ww.setup.Disabled() || !w.next.Disabled() {
		t.Error("a bad address can be set up")
	}
	ww.address.SetText(wizardOwner)
	if !strings.Contains(ww.addrStatus.Text, "Valid: earnings go to "+wizardOwner) {
		t.Errorf("good address status %q", ww.addrStatus.Text)
	}
	ww.pass1.SetText("long enough")
	ww.pass2.SetText("long enougX")
	if ww.passStatus.Text != "The two passphrases differ." || !ww.setup.Disabled() {
		t.Errorf("different passphrases: %q", ww.passStatus.Text)
	}
	ww.pass2.SetText("long enough")
	if ww.setup.Disabled() {
		t.Fatal("Set up stays disabled with a valid form")
	}
	test.Tap(ww.setup)
	wait(t, w.pending)
	if !strings.Contains(ww.status.Text, "Done: earnings go to "+wizardOwner) || ww.pass1.Text != "" || ww.wordsCard.Visible() {
		t.Errorf("after setup: %q (passphrase left %q)", ww.status.Text, ww.pass1.Text)
	}
	reqs := api.WalletRequests()
	if len(reqs) != 1 || reqs[0].Mode != engine.WalletOwnerAddress || reqs[0].Address != wizardOwner {
		t.Errorf("setups %+v", reqs)
	}
	if w.next.Disabled() {
		t.Fatal("step 2: Next disabled after setup")
	}
	test.Tap(w.next)

	// 3. Model and price.
	wait(t, w.pending)
	if w.coef.Text != "1" || !contains(texts(w.content), "Model: "+engine.DevModelName) || !strings.Contains(w.estimate.Text, "Estimate: about ") {
		t.Errorf("price step: coefficient %q, estimate %q", w.coef.Text, w.estimate.Text)
	}
	w.coef.SetText("abc")
	if !w.next.Disabled() || w.coefErr.Text == "" {
		t.Error("a bad coefficient is accepted")
	}
	w.coef.SetText("1.5")
	test.Tap(w.next)
	wait(t, w.pending)
	if set, n := api.StoredSettings(); n != 1 || set.WorkerCoefficient != 1500 {
		t.Errorf("stored %+v after %d saves", set, n)
	}

	// 4. Image.
	if w.cur != 3 || !strings.Contains(w.image.Text, "stand-in image") || !strings.Contains(w.image.Text, "KVM") {
		t.Errorf("step %d, image text %q", w.cur+1, w.image.Text)
	}
	test.Tap(w.next)

	// 5. Funding: address, link, QR, copy.
	f := w.funding
	if f.shownCW == "" || f.address.Text == "" || !strings.HasPrefix(f.link.Text, "ton://transfer/"+f.address.Text) || f.qr.Resource == nil {
		t.Fatalf("funding: address %q link %q", f.address.Text, f.link.Text)
	}
	if !strings.Contains(f.intro.Text, "at least 2.1 TON") || !f.skip.Visible() {
		t.Errorf("funding intro %q", f.intro.Text)
	}
	for _, b := range buttons(f.details) {
		if b.Text == "Copy" {
			test.Tap(b)
			break
		}
	}
	if clip.Content() != f.address.Text {
		t.Errorf("copied %q", clip.Content())
	}
	if !w.next.Disabled() {
		t.Error("Next enabled before the float was sent")
	}
	test.Tap(f.skip)

	// 6. Start, and the first requests.
	if w.cur != 5 || w.next.Text != "Finish" || !w.next.Disabled() {
		t.Fatalf("step %d, next %q", w.cur+1, w.next.Text)
	}
	test.Tap(w.startBtn)
	wait(t, w.pending)
	shown := func() {
		t.Helper()
		select {
		case <-w.instanceShown:
		case <-time.After(10 * time.Second):
			t.Fatal("the instance was never shown")
		}
	}
	shown() // the fake's start event
	if !strings.Contains(w.runState.Text, "running") || w.requests.Text != "Waiting for the first requests…" {
		t.Errorf("after start: %q, %q", w.runState.Text, w.requests.Text)
	}
	api.Publish(engine.EventInstance, func(st *engine.State) {
		st.Dev = &engine.Instance{State: vm.StateRunning, Load: &engine.LoadStats{Sent: 3, OK: 2, Failed: 1}}
	})
	shown()
	if !strings.Contains(w.requests.Text, "3 sent by the test client, 2 answered, 1 failed") {
		t.Errorf("requests %q", w.requests.Text)
	}
	if w.next.Disabled() {
		t.Fatal("Finish disabled after the start")
	}
	test.Tap(w.next)
	if !*closed {
		t.Error("Finish did not close the wizard")
	}
}

// TestWizardCreatesWallet: a created wallet's words are shown once, and
// Next waits for "I wrote it down".
func TestWizardCreatesWallet(t *testing.T) {
	w, api, _, _ := newTestWizard(t, hostcheck.Report{Production: hostcheck.Verdict{Ready: true}})
	api.SetNewMnemonic(func() wallet.Mnemonic {
		m, err := wallet.ParseMnemonic(wizardWords)
		if err != nil {
			t.Fatal(err)
		}
		return m
	})
	wait(t, w.pending)
	if !contains(texts(w.content), "This machine can earn on COCOON.") {
		t.Error("no verdict sentence")
	}
	test.Tap(w.next)
	wait(t, w.pending)
	ww := w.wallet
	ww.choice.SetSelected("Create a new wallet")
	ww.pass1.SetText("long enough")
	ww.pass2.SetText("long enough")
	test.Tap(ww.setup)
	wait(t, w.pending)
	if !ww.wordsCard.Visible() || len(ww.words.Objects) != 24 || !contains(texts(ww.words), "24. whisper") {
		t.Fatalf("words shown: %v", texts(ww.words))
	}
	if !w.next.Disabled() {
		t.Error("Next enabled before the words were written down")
	}
	ww.wroteDown.SetChecked(true)
	if w.next.Disabled() {
		t.Fatal("Next disabled after I wrote it down")
	}
	test.Tap(w.next)
	wait(t, w.pending)
	test.Tap(w.next)
	wait(t, w.pending)
	test.Tap(w.next)
	if len(ww.words.Objects) != 0 || ww.wordsCard.Visible() {
		t.Error("the words are still on screen after the wallet step")
	}
	test.Tap(w.back)
	test.Tap(w.back)
	test.Tap(w.back)
	if w.cur != 1 || ww.wordsCard.Visible() {
		t.Errorf("back on step %d, words visible %v", w.cur+1, ww.wordsCard.Visible())
	}
}

// TestWizardImportAndKeep: bad words are refused with the reason; a
// configured wallet can be kept.
func TestWizardImportAndKeep(t *testing.T) {
	w, api, _, _ := newTestWizard(t, hostcheck.Report{})
	wait(t, w.pending)
	test.Tap(w.next)
	wait(t, w.pending)
	ww := w.wallet
	ww.choice.SetSelected("Import a recovery phrase")
	ww.phrase.SetText(strings.Replace(wizardWords, "honey", "honeyy", 1))
	ww.pass1.SetText("long enough")
	ww.pass2.SetText("long enough")
	test.Tap(ww.setup)
	wait(t, w.pending)
	if !strings.HasPrefix(ww.status.Text, "The wallet was not set up: ") || !w.next.Disabled() || ww.setup.Disabled() {
		t.Errorf("bad words: %q", ww.status.Text)
	}

	api.SetWallet(engine.WalletConfig{Owner: wizardOwner, NodePublicKey: strings.Repeat("ab", 32)}, "long enough")
	w2, _, _, _ := newTestWizardOn(t, api)
	wait(t, w2.pending)
	test.Tap(w2.next)
	wait(t, w2.pending)
	if w2.wallet.choice.Selected != "Keep the current setup" || w2.next.Disabled() {
		t.Errorf("keep: selected %q", w2.wallet.choice.Selected)
	}
}

func newTestWizardOn(t *testing.T, api *enginetest.Fake) (*wizard, *enginetest.Fake, fyne.Clipboard, *bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	closed := new(bool)
	return newWizard(ctx, api, nil, func() { *closed = true }), api, nil, closed
}

// buttons collects every button under o.
func buttons(o fyne.CanvasObject) []*widget.Button {
	var out []*widget.Button
	var walk func(fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		switch w := o.(type) {
		case *widget.Button:
			out = append(out, w)
		case *widget.Form:
			for _, it := range w.Items {
				walk(it.Widget)
			}
		case *fyne.Container:
			for _, c := range w.Objects {
				walk(c)
			}
		}
	}
	walk(o)
	return out
}

func TestApproxTON(t *testing.T) {
	for nano, want := range map[int64]string{0: "0 TON", 519_782_400: "0.52 TON", 12_345_678_901: "12 TON", 1_000_000_000: "1 TON", 341_500_000_000: "342 TON", 4_400_000: "0.0044 TON"} {
		if got := approxTON(nano); got != want {
			t.Errorf("approxTON(%d) = %q, want %q", nano, got, want)
		}
	}
}
