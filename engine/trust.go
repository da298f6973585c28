package engine

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// Trust says whether the network will accept a worker: its image hash
// and model against the root contract's allow-lists, where the hash came
// from and whether it was verified, and the RA-TLS certificate's age.
type Trust struct {
	Checked time.Time `json:"checked"`
	// ImageHash is lowercase hex; empty when unknown.
	ImageHash string `json:"image_hash,omitempty"`
	// Source says where the image hash came from.
	Source string `json:"source,omitempty"`
	// Verified: the hash comes from a quote verified in an RA-TLS
	// handshake, not only from the worker's own report.
	Verified bool `json:"verified"`
	FakeTDX  bool `json:"fake_tdx"`
	// ImageListed: the hash is on the allow-list (or the list is empty).
	ImageListed   bool   `json:"image_listed"`
	AllowedImages int    `json:"allowed_images"`
	Model         string `json:"model"`
	ModelHash     string `json:"model_hash"`
	ModelListed   bool   `json:"model_listed"`
	AllowedModels int    `json:"allowed_models"`
	// WorkerImageListed and WorkerModelListed are the worker's own
	// /jsonstats flags (always true when it does not check).
	WorkerImageListed bool      `json:"worker_image_listed"`
	WorkerModelListed bool      `json:"worker_model_listed"`
	CertNotBefore     time.Time `json:"cert_not_before,omitzero"`
	CertNotAfter      time.Time `json:"cert_not_after,omitzero"`
	// Accepted is the verdict; Reasons say why not (or what to know).
	Accepted bool     `json:"accepted"`
	Reasons  []string `json:"reasons,omitempty"`
}

// Verdict is the verdict in one sentence.
func (t Trust) Verdict() string {
	if t.Accepted {
		s := "the network accepts this worker: image hash and model are on the allow-lists"
		if t.FakeTDX {
			s = "accepted by the stand-in proxy (fake TDX, dev mode only): image hash and model are on the stand-in allow-lists"
		}
		return s
	}
	return "the network would refuse this worker: " + strings.Join(t.Reasons, "; ")
}

// Refused reports whether the verdict is a refusal that waiting will not
// end: a known image hash or the model not on the allow-lists, the worker
// reporting itself not listed, or fake TDX outside dev mode. An image
// hash that is not known yet (no handshake seen so far) is no refusal.
func (t Trust) Refused() bool {
	return !t.Accepted && (t.ImageHash != "" || !t.ModelListed || !t.WorkerImageListed || !t.WorkerModelListed)
}

// evaluateTrust judges a worker from its /jsonstats document and the image
// hash it is known by.
func evaluateTrust(now time.Time, mode Mode, st worker.Stats, image *[32]byte, source string, verified, fake bool) Trust {
	t := Trust{Checked: now, Source: source, Verified: verified, FakeTDX: fake,
		AllowedImages: len(st.RootContract.WorkerHashes), AllowedModels: len(st.RootContract.ModelHashes),
		Model: st.LocalConfig.Model, WorkerImageListed: st.Status.ActualImageHash, WorkerModelListed: st.Status.ActualModel}
	mh := sha256.Sum256([]byte(st.LocalConfig.Model))
	t.ModelHash = hex.EncodeToString(mh[:])
	t.ModelListed = t.AllowedModels == 0 || st.ModelListed()
	var reasons []string
	if image == nil {
		reasons = append(reasons, "the image hash is not known yet (no RA-TLS handshake seen and the health monitor did not report it)")
	} else {
		t.ImageHash = hex.EncodeToString(image[:])
		t.ImageListed = t.AllowedImages == 0 || st.ImageListed(worker.Hash(*image))
		if !t.ImageListed {
			reasons = append(reasons, fmt.Sprintf("image hash %s is not among the %d allowed by the root contract", t.ImageHash, t.AllowedImages))
		}
	}
	if !t.ModelListed {
		reasons = append(reasons, fmt.Sprintf("model %q (SHA-256 %s) is not among the %d allowed", t.Model, t.ModelHash, t.AllowedModels))
	}
	if fake && mode != ModeDev {
		reasons = append(reasons, "the quote is fake TDX, which only dev mode accepts")
	}
	if !st.Status.ActualImageHash || !st.Status.ActualModel {
		reasons = append(reasons, "the worker itself reports its image or model as not listed")
	}
	t.Reasons = reasons
	t.Accepted = len(reasons) == 0
	return t
}

// trustEvery is how often a worker's trust is re-evaluated.
const trustEvery = 30 * time.Second

// checkTrust evaluates a worker's trust when due and records a changed
// verdict as an event. healthAddr may be empty (no health channel).
func (s *Service) checkTrust(ctx context.Context, m *monitor, st worker.Stats, healthAddr string, jobs *devJobs) *Trust {
	now := s.opts.Now()
	// Until the stand-in proxy has seen the worker's certificate, look
	// again at every read: the handshake follows readiness within seconds.
	waitingForHandshake := jobs != nil && m.trust != nil && !m.trust.Verified
	if m.trust != nil && !waitingForHandshake && now.Sub(m.trust.Checked) < trustEvery && m.trustRoot == rootKey(st) {
		return m.trust
	}
	var (
		image            *[32]byte
		source           string
		verified, fake   bool
		notBefore, after time.Time
	)
	if a, ok := jobs.attestationOf(st); ok {
		h := a.ImageHash
		image, source, verified, fake = &h, "RA-TLS certificate verified by the stand-in proxy", true, a.Fake
		notBefore, after = a.CertNotBefore, a.CertNotAfter
	} else if healthAddr != "" {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		hs, err := worker.NewHealthClient((&net.Dialer{}).DialContext, "tcp", healthAddr).Status(cctx)
		cancel()
		if err == nil && hs.ImageHashB64 != "" {
			if b, err := base64.StdEncoding.DecodeString(hs.ImageHashB64); err == nil && len(b) == 32 {
				var h [32]byte
				copy(h[:], b)
				image, source = &h, "reported by the worker's health monitor (not verified)"
				fake = h == attest.FakeTDXImageHash
			}
		}
	}
	t := evaluateTrust(now, s.State().Mode, st, image, source, verified, fake)
	t.CertNotBefore, t.CertNotAfter = notBefore, after
	if m.trust == nil || m.trust.Accepted != t.Accepted || !slices.Equal(m.trust.Reasons, t.Reasons) || m.trust.ImageHash != t.ImageHash {
		s.recordEvent("attest.verdict", t.Verdict(), map[string]any{"instance": m.instance, "image_hash": t.ImageHash,
			"verified": t.Verified, "fake_tdx": t.FakeTDX, "accepted": t.Accepted, "model_hash": t.ModelHash})
	}
	m.trust, m.trustRoot = &t, rootKey(st)
	return &t
}

// rootKey changes when the allow-lists or the model change.
func rootKey(st worker.Stats) string {
	var b strings.Builder
	for _, h := range st.RootContract.WorkerHashes {
		b.WriteString(h.String())
	}
	b.WriteByte('|')
	for _, h := range st.RootContract.ModelHashes {
		b.WriteString(h.String())
	}
	b.WriteByte('|')
	b.WriteString(st.LocalConfig.Model)
	return b.String()
}

// attestationOf finds the worker whose cocoon wallet st reports among the
// stand-in proxy's connections.
func (j *devJobs) attestationOf(st worker.Stats) (standin.Attestation, bool) {
	if j == nil || st.Wallet == nil {
		return standin.Attestation{}, false
	}
	for _, w := range j.proxy.Snapshot().Workers {
		if w.Wallet == st.Wallet.Address && w.Attestation.CertNotAfter.After(time.Time{}) {
			return w.Attestation, true
		}
	}
	return standin.Attestation{}, false
}
