package app

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/png"

	"fyne.io/fyne/v2"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// trayState is what the tray icon shows at a glance.
type trayState int

const (
	trayStopped   trayState = iota // no worker runs
	trayRunning                    // a worker serves
	trayPaused                     // the workers take no new requests
	trayAttention                  // something needs the user: a failed worker, a low float, no database
)

// trayStateOf reads st: attention first, then pause, then running.
func trayStateOf(st engine.State) trayState {
	in := st.Dev
	if in == nil && len(st.Attached) > 0 {
		in = &st.Attached[0]
	}
	switch {
	case st.StoreError != "":
		return trayAttention
	case in != nil && (in.State == vm.StateFailed || in.State == vm.StateDegraded):
		return trayAttention
	case in != nil && in.Stats != nil && in.Stats.Status.WalletHealth() == worker.WalletTooLow:
		return trayAttention
	case st.Pause != nil:
		return trayPaused
	case in != nil && (in.State == vm.StateRunning || in.State == vm.StateBooting || in.State == vm.StatePreparing):
		return trayRunning
	}
	return trayStopped
}

// trayBadges are the dot colours: running green, paused amber, attention
// red; a stopped worker shows the plain icon.
var trayBadges = map[trayState]color.NRGBA{
	trayRunning:   {0x2e, 0xb8, 0x5c, 0xff},
	trayPaused:    {0xf0, 0xa0, 0x20, 0xff},
	trayAttention: {0xe0, 0x36, 0x36, 0xff},
}

// trayIcons builds, once, the icon of each state: base with a dot in its
// lower right corner. A base that is not a PNG serves every state.
func trayIcons(base fyne.Resource) map[trayState]fyne.Resource {
	out := map[trayState]fyne.Resource{trayStopped: base, trayRunning: base, trayPaused: base, trayAttention: base}
	src, err := png.Decode(bytes.NewReader(base.Content()))
	if err != nil {
		return out
	}
	b := src.Bounds()
	for st, c := range trayBadges {
		img := image.NewNRGBA(b)
		draw.Draw(img, b, src, b.Min, draw.Src)
		r := b.Dx() * 22 / 100 // the dot's radius
		cx, cy := b.Max.X-r-b.Dx()/32, b.Max.Y-r-b.Dy()/32
		ring := r + max(2, b.Dx()/64)
		for y := cy - ring; y <= cy+ring; y++ {
			for x := cx - ring; x <= cx+ring; x++ {
				d := (x-cx)*(x-cx) + (y-cy)*(y-cy)
				switch {
				case d <= r*r:
					img.SetNRGBA(x, y, c)
				case d <= ring*ring:
					img.SetNRGBA(x, y, color.NRGBA{0xff, 0xff, 0xff, 0xff})
				}
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			continue
		}
		out[st] = fyne.NewStaticResource(base.Name()+"-"+[...]string{"stopped", "running", "paused", "attention"}[st]+".png", buf.Bytes())
	}
	return out
}

// trayIconSetter sets the tray icon whenever the state it shows changes:
// never in a loop, as each new icon costs the tray driver memory it does
// not give back. Its fields are touched on the UI thread only.
type trayIconSetter struct {
	icons map[trayState]fyne.Resource
	set   func(fyne.Resource)
	shown trayState
}

// show sets the icon for st when it differs from the one shown (stopped,
// the plain icon, at first).
func (i *trayIconSetter) show(st trayState) {
	if i == nil || st == i.shown {
		return
	}
	i.shown = st
	i.set(i.icons[st])
}
