package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
)

// gpuView lists GPUs with live telemetry, one card per GPU.
type gpuView struct {
	content fyne.CanvasObject
	status  *widget.Label
	cards   *fyne.Container
	// shown remembers each card's value labels so refreshes update text in place.
	shown map[string][]*widget.Label
}

func newGPUView() *gpuView {
	v := &gpuView{status: wrapLabel(lang.L("Looking for GPUs…")), cards: container.NewVBox(), shown: map[string][]*widget.Label{}}
	v.content = container.NewBorder(v.status, nil, nil, nil, container.NewVScroll(container.NewPadded(v.cards)))
	return v
}

// show renders an inventory, rebuilding cards only when the set of GPUs changes.
func (v *gpuView) show(inv gpu.Inventory) {
	v.status.SetText(inventorySummary(inv))
	same := len(inv.GPUs) == len(v.shown)
	for _, g := range inv.GPUs {
		if labels, ok := v.shown[g.Key()]; !ok || len(labels) != len(g.Describe()) {
			same = false
		}
	}
	if same {
		for _, g := range inv.GPUs {
			labels := v.shown[g.Key()]
			for i, r := range g.Describe() {
				labels[i].SetText(r.Value)
			}
		}
		return
	}
	v.shown = map[string][]*widget.Label{}
	cards := make([]fyne.CanvasObject, 0, len(inv.GPUs))
	for _, g := range inv.GPUs {
		form := container.New(layout.NewFormLayout())
		var labels []*widget.Label
		for _, r := range g.Describe() {
			val := wrapLabel(r.Value)
			labels = append(labels, val)
			form.Add(widget.NewLabelWithStyle(r.Label, fyne.TextAlignTrailing, fyne.TextStyle{Bold: true}))
			form.Add(val)
		}
		v.shown[g.Key()] = labels
		cards = append(cards, widget.NewCard(g.DisplayName(), lang.L("{{.Bus}} · found through {{.Source}}", vals{"Bus": g.BusID, "Source": g.Source}), form))
	}
	v.cards.Objects = cards
	v.cards.Refresh()
}

func inventorySummary(inv gpu.Inventory) string {
	nvmlText := lang.L("NVIDIA driver library loaded")
	if !inv.NVML.Loaded {
		nvmlText = lang.L("NVIDIA driver library not available ({{.Reason}}): GPUs are read from the PCI bus, without telemetry", vals{"Reason": inv.NVML.Reason})
	} else if inv.NVML.DriverVersion != "" {
		nvmlText = lang.L("NVIDIA driver {{.Driver}}, CUDA {{.CUDA}}", vals{"Driver": inv.NVML.DriverVersion, "CUDA": gpu.FormatText(inv.NVML.CUDAVersion)})
	}
	switch len(inv.GPUs) {
	case 0:
		return lang.L("No GPU found. Dev mode needs none; earning needs an NVIDIA H100 or newer. {{.Driver}}.", vals{"Driver": nvmlText})
	case 1:
		return lang.L("1 GPU. {{.Driver}}.", vals{"Driver": nvmlText})
	}
	return lang.L("{{.Count}} GPUs. {{.Driver}}.", vals{"Count": len(inv.GPUs), "Driver": nvmlText})
}
