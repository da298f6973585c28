package engine

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

func TestEvaluateTrust(t *testing.T) {
	fake := attest.FakeTDXImageHash
	other := sha256.Sum256([]byte("another image"))
	model := "Qwen/Qwen3-8B@b968826d:7e9d33be"
	doc := func(images ...[32]byte) worker.Stats {
		var st worker.Stats
		st.LocalConfig.Model = model
		st.Status.ActualImageHash, st.Status.ActualModel = true, true
		for _, h := range images {
			st.RootContract.WorkerHashes = append(st.RootContract.WorkerHashes, worker.Hash(h))
		}
		st.RootContract.ModelHashes = []worker.Hash{sha256.Sum256([]byte(model))}
		return st
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		mode     Mode
		st       worker.Stats
		image    *[32]byte
		fake     bool
		accepted bool
		reason   string
	}{
		{"dev, fake image listed", ModeDev, doc(fake), &fake, true, true, ""},
		{"production refuses fake TDX", ModeProduction, doc(fake), &fake, true, false, "fake TDX"},
		{"image not listed names both", ModeProduction, doc(fake), &other, false, false, "is not among the 1 allowed"},
		{"empty allow-list accepts any image", ModeProduction, doc(), &other, false, true, ""},
		{"unknown image", ModeProduction, doc(other), nil, false, false, "not known yet"},
		{"model not listed", ModeProduction, func() worker.Stats { s := doc(other); s.LocalConfig.Model = "x@y:z"; return s }(), &other, false, false, `model "x@y:z"`},
		{"worker says not listed", ModeProduction, func() worker.Stats { s := doc(other); s.Status.ActualModel = false; return s }(), &other, false, false, "the worker itself"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := evaluateTrust(now, tc.mode, tc.st, tc.image, "test", true, tc.fake)
			if tr.Accepted != tc.accepted {
				t.Fatalf("accepted = %v (%v), want %v", tr.Accepted, tr.Reasons, tc.accepted)
			}
			if tc.reason != "" && !strings.Contains(tr.Verdict(), tc.reason) {
				t.Errorf("verdict %q lacks %q", tr.Verdict(), tc.reason)
			}
			if tc.image != nil && tc.name == "image not listed names both" && !strings.Contains(tr.Verdict(), tr.ImageHash) {
				t.Errorf("verdict does not name the image hash: %q", tr.Verdict())
			}
		})
	}
}
