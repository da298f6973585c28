package helper

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// Status answers OpStatus.
type Status struct {
	Device Device `json:"device"`
	// Eligible is true when bind-vfio would be accepted by Check;
	// Problem says why not.
	Eligible bool   `json:"eligible"`
	Problem  string `json:"problem,omitempty"`
	// CCMode is the confidential-computing mode nvidia_gpu_tools.py
	// reports (ModeOn, ModeOff, ModeDevTools); empty when it was not
	// asked (the GPU is not eligible, or the tool is missing) or gave no
	// answer, and CCNote then says why.
	CCMode string `json:"cc_mode,omitempty"`
	CCNote string `json:"cc_note,omitempty"`
}

// Helper is the privileged side of one request: it plans against the
// sysfs under Root, carries the plan out and logs the outcome.
type Helper struct {
	// Root is the directory holding sys/ ("/" in production).
	Root *os.Root
	// CC runs nvidia_gpu_tools.py.
	CC CCTool
	// Log gets one line per request: operation, PCI address, result.
	Log *slog.Logger
	// Caller names who asked, for the log (e.g. "uid 1000" from pkexec's
	// PKEXEC_UID); empty when unknown.
	Caller string
}

// Serve reads one request from in, handles it and writes the reply to
// out as one JSON line. The returned reply says whether it succeeded; the
// error is only for a reply that could not be written.
func (h *Helper) Serve(ctx context.Context, in io.Reader, out io.Writer) (Reply, error) {
	var rep Reply
	req, err := ReadRequest(in)
	if err != nil {
		rep = Reply{Refused: IsRefusal(err), Error: err.Error()}
		h.log().Warn("gpu helper request rejected", "caller", h.Caller, "result", "refused", "error", err.Error())
	} else {
		rep = h.Handle(ctx, req)
	}
	b, merr := json.Marshal(rep)
	if merr != nil {
		return rep, fmt.Errorf("encode reply: %w", merr)
	}
	if _, werr := out.Write(append(b, '\n')); werr != nil {
		return rep, fmt.Errorf("write reply: %w", werr)
	}
	return rep, nil
}

// Handle carries out one request and logs its outcome.
func (h *Helper) Handle(ctx context.Context, req Request) Reply {
	rep := h.handle(ctx, req)
	result, level := "ok", slog.LevelInfo
	switch {
	case rep.Refused:
		result, level = "refused", slog.LevelWarn
	case !rep.OK:
		result, level = "failed", slog.LevelError
	}
	attrs := []any{"caller", h.Caller, "op", string(rep.Op), "pci", rep.PCI}
	if rep.Mode != "" {
		attrs = append(attrs, "mode", rep.Mode)
	}
	attrs = append(attrs, "result", result, "steps", len(rep.Done))
	if rep.Error != "" {
		attrs = append(attrs, "error", rep.Error)
	}
	h.log().Log(ctx, level, "gpu helper "+string(rep.Op), attrs...)
	return rep
}

func (h *Helper) handle(ctx context.Context, req Request) Reply {
	if err := req.Validate(); err != nil {
		return Reply{Refused: IsRefusal(err), Error: err.Error()}
	}
	rep := Reply{Op: req.Op, PCI: req.PCI, Mode: req.Mode}
	if h.Root == nil {
		rep.Error = "gpu helper: no sysfs root"
		return rep
	}
	plan, err := NewPlan(ctx, h.Root.FS(), h.CC, req)
	if err != nil {
		rep.Refused, rep.Error = IsRefusal(err), err.Error()
		return rep
	}
	if req.Op == OpStatus {
		rep.Status = h.status(ctx, plan.Device)
		rep.OK = true
		return rep
	}
	done, err := Executor{Root: h.Root, CC: h.CC}.Apply(ctx, plan)
	rep.Done = done
	if err != nil {
		rep.Refused, rep.Error = IsRefusal(err), err.Error()
		return rep
	}
	rep.OK = true
	return rep
}

// status reports d, and asks the CC tool for the mode only when d passes
// Check (the tool touches the GPU's registers).
func (h *Helper) status(ctx context.Context, d Device) *Status {
	st := &Status{Device: d, Eligible: true}
	if err := d.Check(); err != nil {
		st.Eligible, st.Problem = false, err.Error()
		st.CCNote = "not asked: the GPU is not eligible"
		return st
	}
	mode, err := h.CC.QueryCCMode(ctx, d.Address)
	if err != nil {
		st.CCNote = err.Error()
		return st
	}
	st.CCMode = mode
	return st
}

func (h *Helper) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}
