//go:build cgo && tvmemu

// Package tvmchain is a local TON chain for dev mode and tests: accounts
// live in memory and every message runs the real contract code in TON's
// transaction emulator (tongo's cgo binding of libemulator). It implements
// wallet.Chain, so the app's wallet code cannot tell it from LiteChain.
//
// The package builds only with cgo and the tvmemu tag, because a binary that
// links libemulator.so does not start where that library is missing; the
// plain build of the app has no such dependency. Run its tests with
//
//	LD_LIBRARY_PATH=$(go list -m -f '{{.Dir}}' github.com/tonkeeper/tongo)/lib/linux \
//		go test -tags tvmemu ./wallet/tvmchain/
package tvmchain
