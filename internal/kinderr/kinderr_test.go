package kinderr

import (
	"errors"
	"io/fs"
	"testing"
)

func TestErrorIsKindAndCause(t *testing.T) {
	kind := errors.New("kind")
	e := error(&Error{Kind: kind, Msg: "it failed: do this", Err: fs.ErrNotExist})
	if e.Error() != "it failed: do this" || !errors.Is(e, kind) || !errors.Is(e, fs.ErrNotExist) {
		t.Errorf("%v: Is(kind) %v, Is(cause) %v", e, errors.Is(e, kind), errors.Is(e, fs.ErrNotExist))
	}
	var ke *Error
	if !errors.As(e, &ke) || ke.Kind != kind {
		t.Error("errors.As")
	}
	if bare := error(&Error{Kind: kind, Msg: "m"}); !errors.Is(bare, kind) || errors.Is(bare, fs.ErrNotExist) {
		t.Error("without a cause")
	}
}
