package diag_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/engine/diag"
)

// BenchmarkRedactLog redacts 1 MiB of log lines, the size of one app log
// tail in a bundle.
func BenchmarkRedactLog(b *testing.B) {
	var s strings.Builder
	for i := 0; s.Len() < diag.LogTailBytes; i++ {
		fmt.Fprintf(&s, "time=2026-03-14T15:09:%02d.123Z level=INFO msg=\"worker stats\" instance=0 addr=127.0.0.1:18080 tokens=%d peer=10.0.2.15 gpu=GPU-5a7c4f1e-9b3d-4c2a-8e6f-1d2b3c4d5e6f hash=%064x\n", i%60, i, i)
	}
	in := s.String()
	r := diag.NewRedactor(diag.RedactorConfig{Home: "/Users/alice", Users: []string{"alice"}, Hosts: []string{"gpubox"}})
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		r.Redact(in)
	}
}
