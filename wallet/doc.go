// Package wallet will hold the TON side of Cocoon Provider: owner addresses,
// the node wallet key, the encrypted keystore, the chain client, earnings
// reconciliation and withdrawals. It imports neither engine nor Fyne.
//
// Nothing is implemented here yet; the store's earnings ledger
// (engine/store) already keeps amounts as integer nanoTON for it.
package wallet
