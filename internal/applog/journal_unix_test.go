//go:build unix

package applog

import (
	"fmt"
	"os"
	"syscall"
	"testing"
)

func streamID(t *testing.T, f *os.File) string {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

func TestOnJournal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stream")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if OnJournal(f, getenv) {
		t.Error("journal without JOURNAL_STREAM")
	}
	env["JOURNAL_STREAM"] = "1:2"
	if OnJournal(f, getenv) {
		t.Error("journal for another stream")
	}
	env["JOURNAL_STREAM"] = streamID(t, f)
	if !OnJournal(f, getenv) {
		t.Error("the journal's own stream not recognised")
	}
}
