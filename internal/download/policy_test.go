package download

import (
	"testing"
	"time"
)

func TestPolicyWithDefaults(t *testing.T) {
	d := Policy{}.WithDefaults()
	if d.Client == nil || d.FreeSpace == nil || d.Attempts != DefaultAttempts || d.RetryWait != DefaultRetryWait || d.FreeSpaceMargin != DefaultFreeSpaceMargin {
		t.Errorf("defaults: %+v", d)
	}
	none := Policy{Attempts: 1, RetryWait: -1, FreeSpaceMargin: -1}.WithDefaults()
	if none.Attempts != 1 || none.RetryWait != 0 || none.FreeSpaceMargin != 0 {
		t.Errorf("none asked for: %+v", none)
	}
	kept := Policy{Attempts: 5, RetryWait: time.Minute, FreeSpaceMargin: 7}.WithDefaults()
	if kept.Attempts != 5 || kept.RetryWait != time.Minute || kept.FreeSpaceMargin != 7 {
		t.Errorf("given values changed: %+v", kept)
	}
}
