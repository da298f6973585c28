//go:build unix

package applog

import (
	"fmt"
	"os"
	"syscall"
)

// OnJournal reports whether f is the stream systemd connected to the
// journal: $JOURNAL_STREAM names its device and inode ("dev:ino").
func OnJournal(f *os.File, getenv func(string) string) bool {
	want := getenv("JOURNAL_STREAM")
	if want == "" || f == nil {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return want == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}
