package model

import (
	"errors"

	"github.com/cocoon-provider/cocoon-provider/internal/kinderr"
)

// Kinds of failure; every error of a Store matches one of them with
// errors.Is, and its message says what to do.
var (
	// ErrSpec: the model string is malformed.
	ErrSpec = errors.New("the model string is not valid")
	// ErrSource: an address, SHA-256 or size given is unusable, or no
	// address is known.
	ErrSource = errors.New("the model source is not usable")
	// ErrNotAllowed: the model hash is not on the allow-list.
	ErrNotAllowed = errors.New("the model is not allowed")
	// ErrAllowListUnknown: no allow-list was given to check against.
	ErrAllowListUnknown = errors.New("the allowed model hashes are not known")
	// ErrDownload: the download failed; the cause is an internal/download
	// error (ErrIncomplete there: fetch again to resume).
	ErrDownload = errors.New("the model could not be downloaded")
	// ErrDiskSpace: not enough free disk space.
	ErrDiskSpace = errors.New("not enough free disk space for the model")
	// ErrChecksum: a file's SHA-256 is not the one given.
	ErrChecksum = errors.New("the model file's SHA-256 does not match")
	// ErrFormat: the tar's size is not a whole number of 4096-byte blocks
	// (build-model pads it), or a verity file is malformed.
	ErrFormat = errors.New("the model file is not in the expected format")
	// ErrVerity: the tar's dm-verity root hash, or the verity file, is not
	// the one the model string names.
	ErrVerity = errors.New("the model's dm-verity hash does not match")
	// ErrExists: the same name@commit is here with another verity hash.
	ErrExists = errors.New("another build of the model is here")
	// ErrNotFound: no such model here.
	ErrNotFound = errors.New("no such model")
	// ErrStore: the model directory could not be read or written.
	ErrStore = errors.New("the model directory could not be used")
)

// Error is a failure with a message for the user.
type Error = kinderr.Error

func newError(kind, err error, msg string) *Error {
	return &Error{Kind: kind, Err: err, Msg: msg}
}
