//go:build cgo && tvmemu

package tvmchain

import (
	"testing"
	"time"

	twallet "github.com/xssnick/tonutils-go/ton/wallet"
)

// BenchmarkEmulateTransfer sends signed V4R2 transfers through EmuChain.
// Each send is two emulated transactions (the wallet's and the receiver's);
// ms/tx is the time per transaction, signing excluded.
func BenchmarkEmulateTransfer(b *testing.B) {
	c := newChain(b)
	w := newTestWallet(b, twallet.V4R2, "bench")
	dest := somewhere("bench dest")
	mustFaucet(b, c, w.addr(), 1_000_000*ton1)
	sendAndWait(b, c, w.transfer(b, 0, true, dest, ton1/100, false, ""))

	var elapsed time.Duration
	txs := 0
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		ext := w.transfer(b, uint32(i+1), false, dest, ton1/100, false, "")
		b.StartTimer()
		start := time.Now()
		tx := sendAndWait(b, c, ext)
		elapsed += time.Since(start)
		txs += 1 + len(tx.Out)
	}
	b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(txs), "ms/tx")
}

// BenchmarkGetMethod runs the V4R2 seqno get-method (a fresh TVM emulator
// on the account's code and data each time).
func BenchmarkGetMethod(b *testing.B) {
	c := newChain(b)
	w := newTestWallet(b, twallet.V4R2, "bench get")
	mustFaucet(b, c, w.addr(), 2*ton1)
	sendAndWait(b, c, w.transfer(b, 0, true, somewhere("bench get dest"), ton1/100, false, ""))
	ctx := ctxT(b)
	b.ResetTimer()
	for range b.N {
		if _, err := c.RunGetMethod(ctx, w.addr(), "seqno"); err != nil {
			b.Fatal(err)
		}
	}
}
