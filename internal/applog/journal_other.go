//go:build !unix

package applog

import "os"

// OnJournal is false: only Linux has systemd's journal.
func OnJournal(*os.File, func(string) string) bool { return false }
