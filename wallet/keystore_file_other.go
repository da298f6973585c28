//go:build !unix

package wallet

import "io/fs"

// checkKeystoreMode does nothing where Unix permission bits do not exist:
// there the file's ACL, inherited from the user's profile directory, is what
// protects it.
func checkKeystoreMode(fs.FileInfo) error { return nil }

// syncKeystoreDir does nothing: Go cannot open a directory for syncing on
// these systems (Windows); the file itself was synced before the rename.
func syncKeystoreDir(string) error { return nil }
