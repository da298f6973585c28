package wallet

import (
	"fmt"
	"testing"
)

// BenchmarkDeriveKey times one Argon2id derivation with the default
// parameters: the cost of Open, and half the cost of Save.
//
//	go test -run '^$' -bench DeriveKey -benchtime 10x ./wallet/
func BenchmarkDeriveKey(b *testing.B) {
	p := DefaultKeystoreKDF()
	b.Run(fmt.Sprintf("t=%d,m=%dMiB,p=%d", p.Time, p.MemoryKiB>>10, p.Threads), func(b *testing.B) {
		salt := make([]byte, keystoreSaltSize)
		for b.Loop() {
			clear(deriveKeystoreKey(testPass, salt, p))
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		b.ReportMetric(float64(p.MemoryKiB)/1024, "MiB")
	})
}
