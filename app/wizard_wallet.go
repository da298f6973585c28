package app

import (
	"errors"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// The wallet step's choices.
const (
	walletKeep = iota
	walletAddress
	walletCreate
	walletImport
)

// wizardWallet is the wallet step: where earnings go, the node key and
// the keystore passphrase.
type wizardWallet struct {
	info    *engine.WalletInfo // as read or set up; nil until read
	current *widget.Label
	choice  *widget.RadioGroup
	choices []string // the radio's options, by walletKeep…walletImport

	address    *widget.Entry
	addrStatus *widget.Label
	phrase     *widget.Entry
	bip39      *widget.Check
	pass1      *widget.Entry
	pass2      *widget.Entry
	passStatus *widget.Label
	setup      *widget.Button
	status     *widget.Label
	fields     *fyne.Container

	words     *fyne.Container // a created wallet's words, shown once
	wroteDown *widget.Check
	wordsCard *widget.Card

	busy bool
	done bool // a setup succeeded
}

func (w *wizard) walletStep() *wizardStep {
	ww := &wizardWallet{current: wrapLabel(""), addrStatus: wrapLabel(""), passStatus: wrapLabel(""), status: wrapLabel("")}
	w.wallet = ww
	ww.choices = []string{lang.L("Keep the current setup"), lang.L("Paste an owner address"), lang.L("Create a new wallet"), lang.L("Import a recovery phrase")}
	ww.address = widget.NewEntry()
	ww.address.SetPlaceHolder(lang.L("your wallet's address, e.g. UQ…"))
	ww.phrase = widget.NewMultiLineEntry()
	ww.phrase.Wrapping = fyne.TextWrapWord
	ww.phrase.SetPlaceHolder(lang.L("the 24 recovery words, separated by spaces"))
	ww.bip39 = widget.NewCheck(lang.L("The words come from a multi-coin wallet (BIP-39)"), func(bool) { w.walletChanged() })
	ww.pass1 = widget.NewPasswordEntry()
	ww.pass2 = widget.NewPasswordEntry()
	ww.pass2.SetPlaceHolder(lang.L("the same passphrase again"))
	for _, e := range []*widget.Entry{ww.address, ww.phrase, ww.pass1, ww.pass2} {
		e.OnChanged = func(string) { w.walletChanged() }
	}
	ww.choice = widget.NewRadioGroup(ww.choices, func(string) { w.walletChanged() })
	ww.setup = widget.NewButtonWithIcon(lang.L("Set up the wallet"), theme.ConfirmIcon(), func() { w.setupWallet() })
	ww.setup.Importance = widget.HighImportance
	ww.setup.Disable()
	ww.words = container.NewGridWithColumns(4)
	ww.wroteDown = widget.NewCheck(lang.L("I wrote it down"), func(bool) { w.refreshNav() })
	ww.wordsCard = widget.NewCard(lang.L("Your recovery phrase"),
		lang.L("Write these words down on paper, in order, and keep them offline: anyone with them owns the wallet, and without them it cannot be recovered. They are shown only this once."),
		container.NewVBox(ww.words, ww.wroteDown))
	ww.wordsCard.Hide()
	ww.addrStatus.Wrapping = fyne.TextWrapWord
	ww.status.Wrapping = fyne.TextWrapWord
	ww.fields = container.NewVBox()
	content := container.NewVBox(ww.current, ww.choice, ww.fields, ww.status, ww.wordsCard)
	s := &wizardStep{title: lang.L("Wallet"), content: content}
	s.valid = func() bool {
		switch {
		case ww.info == nil || ww.busy:
			return false
		case ww.done:
			return !ww.wordsCard.Visible() || ww.wroteDown.Checked
		case ww.choice.Selected == ww.choices[walletKeep]:
			return ww.info.Configured() && ww.info.NodePublicKey != ""
		}
		return false
	}
	s.enter = func() {
		if ww.info != nil {
			return
		}
		ww.choice.Disable()
		w.run(func() func() {
			info, err := w.api.Wallet(w.ctx)
			return func() {
				ww.choice.Enable()
				if err != nil {
					ww.showError(lang.L("Could not read the wallet setup: {{.Error}}", vals{"Error": err.Error()}))
					return
				}
				w.showWallet(info)
			}
		})
	}
	return s
}

// showWallet shows the wallet setup read from the engine.
func (w *wizard) showWallet(info engine.WalletInfo) {
	ww := w.wallet
	ww.info = &info
	opts := ww.choices[walletAddress:]
	if info.Configured() && info.NodePublicKey != "" {
		opts = ww.choices
		ww.current.SetText(lang.L("Earnings go to {{.Owner}}; the worker's cocoon wallet is {{.Cocoon}}.", vals{"Owner": info.Owner, "Cocoon": info.CocoonWallet}))
	} else {
		ww.current.SetText(lang.L("Where should earnings go? Give the address of a TON wallet you own, or make a wallet here."))
	}
	ww.choice.Options = opts
	ww.choice.SetSelected(opts[0])
	if info.Keystore {
		ww.pass1.SetPlaceHolder(lang.L("the keystore's passphrase"))
	} else {
		ww.pass1.SetPlaceHolder(lang.L("a new passphrase, at least 8 characters"))
	}
	w.walletChanged()
}

// walletChanged follows an edit: the fields of the choice, the address
// checked as typed, the passphrases, and whether setup can run.
func (w *wizard) walletChanged() {
	ww := w.wallet
	if ww.info == nil || ww.done {
		w.refreshNav()
		return
	}
	choice := ww.choiceIndex()
	var objs []fyne.CanvasObject
	switch choice {
	case walletAddress:
		objs = append(objs, widget.NewForm(widget.NewFormItem(lang.L("Owner address"), ww.address)), ww.addrStatus)
	case walletImport:
		objs = append(objs, widget.NewForm(widget.NewFormItem(lang.L("Recovery phrase"), ww.phrase)), ww.bip39)
	}
	needPass := choice != walletKeep && (choice != walletAddress || ww.info.NodePublicKey == "")
	if needPass {
		items := []*widget.FormItem{widget.NewFormItem(lang.L("Keystore passphrase"), ww.pass1)}
		if !ww.info.Keystore {
			items = append(items, widget.NewFormItem(lang.L("Repeat it"), ww.pass2))
		}
		note := wrapLabel(lang.L("The node wallet key (and a created or imported wallet's words) are kept encrypted in the keystore under this passphrase."))
		note.Importance = widget.LowImportance
		objs = append(objs, widget.NewForm(items...), note, ww.passStatus)
	}
	if choice != walletKeep {
		objs = append(objs, container.NewHBox(ww.setup))
	}
	if !sameObjects(ww.fields.Objects, objs) {
		ww.fields.Objects = objs
		ww.fields.Refresh()
	}

	ok := true
	if choice == walletAddress {
		ok = w.checkAddress()
	}
	if choice == walletImport && len(strings.Fields(ww.phrase.Text)) < 12 {
		ok = false
	}
	if needPass {
		ok = w.checkPassphrase() && ok
	}
	if ok && choice != walletKeep && !ww.busy {
		ww.setup.Enable()
	} else {
		ww.setup.Disable()
	}
	w.refreshNav()
}

func sameObjects(a, b []fyne.CanvasObject) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (ww *wizardWallet) choiceIndex() int {
	for i, c := range ww.choices {
		if c == ww.choice.Selected {
			return i
		}
	}
	return walletAddress
}

// checkAddress validates the owner address as typed and says why not.
func (w *wizard) checkAddress() bool {
	ww := w.wallet
	text := strings.TrimSpace(ww.address.Text)
	if text == "" {
		ww.addrStatus.Importance = widget.LowImportance
		ww.addrStatus.SetText(lang.L("Paste the address from your wallet app."))
		return false
	}
	net, err := wallet.ParseNetwork(ww.info.Network)
	if err != nil || ww.info.Network == "" {
		net = wallet.Mainnet
	}
	a, err := wallet.ParseAddress(text, net)
	if err != nil {
		ww.addrStatus.Importance = widget.DangerImportance
		ww.addrStatus.SetText(sentence(err.Error()))
		return false
	}
	msg := lang.L("Valid: earnings go to {{.Address}}.", vals{"Address": a.Display()})
	for _, warn := range a.Warnings(net) {
		msg += "\n" + lang.L("Note: {{.Note}}", vals{"Note": warn})
	}
	ww.addrStatus.Importance = widget.SuccessImportance
	ww.addrStatus.SetText(msg)
	return true
}

// checkPassphrase checks the passphrase fields and says what is wrong.
func (w *wizard) checkPassphrase() bool {
	ww := w.wallet
	bad := func(msg string) bool {
		ww.passStatus.Importance = widget.DangerImportance
		ww.passStatus.SetText(msg)
		return false
	}
	ww.passStatus.SetText("")
	if ww.info.Keystore {
		if ww.pass1.Text == "" {
			return bad(lang.L("Enter the keystore's passphrase."))
		}
		return true
	}
	if len([]rune(ww.pass1.Text)) < engine.MinPassphraseLen {
		return bad(lang.L("The passphrase needs at least {{.N}} characters.", vals{"N": engine.MinPassphraseLen}))
	}
	if ww.pass1.Text != ww.pass2.Text {
		return bad(lang.L("The two passphrases differ."))
	}
	return true
}

// setupWallet asks the engine to set up the wallet as chosen.
func (w *wizard) setupWallet() {
	ww := w.wallet
	req := engine.WalletSetupRequest{Passphrase: []byte(ww.pass1.Text)}
	switch ww.choiceIndex() {
	case walletAddress:
		req.Mode, req.Address = engine.WalletOwnerAddress, strings.TrimSpace(ww.address.Text)
	case walletCreate:
		req.Mode = engine.WalletCreate
	case walletImport:
		req.Mode, req.Phrase, req.BIP39 = engine.WalletImport, []byte(ww.phrase.Text), ww.bip39.Checked
	default:
		return
	}
	ww.busy = true
	ww.setup.Disable()
	ww.choice.Disable()
	ww.status.Importance = widget.LowImportance
	ww.status.SetText(lang.L("Setting up the wallet…"))
	w.run(func() func() {
		res, err := w.api.WalletSetup(w.ctx, req)
		clear(req.Phrase)
		clear(req.Passphrase)
		return func() {
			ww.busy = false
			ww.choice.Enable()
			if err != nil {
				ww.showError(lang.L("The wallet was not set up: {{.Error}}", vals{"Error": sentence(err.Error())}))
				w.walletChanged()
				return
			}
			w.walletDone(res)
		}
	})
}

// walletDone shows a setup that succeeded; a created wallet's words are
// shown once, until the user confirms writing them down.
func (w *wizard) walletDone(res engine.WalletSetupResult) {
	ww := w.wallet
	ww.done = true
	ww.info = &res.Wallet
	// The secrets leave the form.
	ww.phrase.SetText("")
	ww.pass1.SetText("")
	ww.pass2.SetText("")
	ww.choice.Disable()
	ww.fields.Objects = nil
	ww.fields.Refresh()
	msg := lang.L("Done: earnings go to {{.Owner}}; the worker's cocoon wallet is {{.Cocoon}}.", vals{"Owner": res.Wallet.Owner, "Cocoon": res.Wallet.CocoonWallet})
	if res.NodeKeyCreated {
		msg += "\n" + lang.L("A new node wallet key was made and kept encrypted.")
	}
	for _, warn := range res.Warnings {
		msg += "\n" + lang.L("Note: {{.Note}}", vals{"Note": warn})
	}
	ww.status.Importance = widget.SuccessImportance
	ww.status.SetText(msg)
	if len(res.Phrase) > 0 {
		objs := make([]fyne.CanvasObject, 0, len(res.Phrase))
		for i, word := range res.Phrase {
			objs = append(objs, widget.NewLabelWithStyle(fmt.Sprintf("%2d. %s", i+1, word), fyne.TextAlignLeading, fyne.TextStyle{Monospace: true}))
		}
		ww.words.Objects = objs
		ww.words.Refresh()
		ww.wroteDown.SetChecked(false)
		ww.wordsCard.Show()
	}
	w.refreshNav()
}

// forgetWords takes a created wallet's words off the screen.
func (ww *wizardWallet) forgetWords() {
	ww.words.Objects = nil
	ww.words.Refresh()
	ww.wordsCard.Hide()
}

func (ww *wizardWallet) showError(msg string) {
	ww.status.Importance = widget.DangerImportance
	ww.status.SetText(msg)
}

// topUpTON is the amount the funding step's link asks for: a little over
// the 2.1 TON minimum.
const topUpTON = 3_000_000_000

// wizardFunding is the funding step: the cocoon wallet's float.
type wizardFunding struct {
	intro   *widget.Label
	address *widget.Label
	link    *widget.Label
	qr      *canvas.Image
	sent    *widget.Check
	skip    *widget.Button
	details *fyne.Container
	shownCW string // the cocoon wallet shown
}

func (w *wizard) fundingStep() *wizardStep {
	f := &wizardFunding{intro: wrapLabel(""), address: widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true}),
		link: wrapLabel("")}
	w.funding = f
	f.address.Wrapping = fyne.TextWrapBreak
	f.link.Wrapping = fyne.TextWrapBreak
	f.qr = canvas.NewImageFromResource(nil)
	f.qr.FillMode = canvas.ImageFillContain
	f.qr.SetMinSize(fyne.NewSize(180, 180))
	f.sent = widget.NewCheck(lang.L("I sent the float"), func(bool) { w.refreshNav() })
	copyText := func(l *widget.Label) func() {
		return func() {
			if w.clip != nil {
				w.clip.SetContent(l.Text)
			}
		}
	}
	f.skip = widget.NewButton(lang.L("Skip (dev mode)"), func() { w.advance() })
	if w.mode != engine.ModeDev {
		f.skip.Hide()
	}
	f.details = container.NewVBox(
		widget.NewForm(
			widget.NewFormItem(lang.L("Cocoon wallet"), container.NewBorder(nil, nil, nil, widget.NewButtonWithIcon(lang.L("Copy"), theme.ContentCopyIcon(), copyText(f.address)), f.address)),
			widget.NewFormItem(lang.L("Payment link"), container.NewBorder(nil, nil, nil, widget.NewButtonWithIcon(lang.L("Copy"), theme.ContentCopyIcon(), copyText(f.link)), f.link))),
		container.NewHBox(f.qr),
		f.sent)
	devNote := wrapLabel(lang.L("Dev mode pays on a stand-in chain on this machine and needs no float: skip this step."))
	devNote.Importance = widget.WarningImportance
	if w.mode != engine.ModeDev {
		devNote.Hide()
	}
	s := &wizardStep{title: lang.L("Funding"), content: container.NewVBox(f.intro, f.details, devNote, container.NewHBox(f.skip))}
	s.valid = func() bool { return f.sent.Checked && f.shownCW != "" }
	s.enter = func() { w.showFunding() }
	return s
}

// showFunding shows the cocoon wallet, its ton:// link and QR code.
func (w *wizard) showFunding() {
	f := w.funding
	// The words were shown on the step before; they do not come back.
	w.wallet.forgetWords()
	var info engine.WalletInfo
	if w.wallet.info != nil {
		info = *w.wallet.info
	}
	link, png, err := fundingLink(info)
	if err != nil {
		f.shownCW = ""
		f.details.Hide()
		f.intro.SetText(lang.L("No cocoon wallet yet: {{.Error}}", vals{"Error": err.Error()}))
		return
	}
	f.intro.SetText(lang.L("The worker's cocoon wallet pays for its transactions on TON and needs a float of at least 2.1 TON (5 TON is comfortable) before the worker starts. Send it from any wallet: open the link or scan the code in your wallet app (it asks for {{.Amount}}).",
		vals{"Amount": wallet.TONString(topUpTON)}))
	if f.shownCW != info.CocoonWallet {
		f.shownCW = info.CocoonWallet
		f.address.SetText(info.CocoonWallet)
		f.link.SetText(link)
		f.qr.Resource = fyne.NewStaticResource("cocoon-wallet-topup.png", png)
		f.qr.Refresh()
	}
	f.details.Show()
}

// fundingLink is the ton:// top-up link of the cocoon wallet and its QR
// code (PNG).
func fundingLink(info engine.WalletInfo) (string, []byte, error) {
	if info.CocoonWallet == "" {
		return "", nil, errors.New(lang.L("set up the wallet on the step before"))
	}
	net, err := wallet.ParseNetwork(info.Network)
	if err != nil || info.Network == "" {
		net = wallet.Mainnet
	}
	cw, err := wallet.ParseAddress(info.CocoonWallet, net)
	if err != nil {
		return "", nil, err
	}
	link, err := wallet.TransferLink(wallet.TopUpTransfer(cw, topUpTON))
	if err != nil {
		return "", nil, err
	}
	png, err := wallet.TransferQR(link)
	if err != nil {
		return "", nil, err
	}
	return link, png, nil
}
