// Package kinderr is the error of packages whose failures have a kind
// (a sentinel to test with errors.Is) and a sentence for the user.
package kinderr

// Error is a failure with a message for the user. Kind is the package's
// sentinel for it; Err, when set, is the underlying cause.
type Error struct {
	Kind error
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the kind and the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}
