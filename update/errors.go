package update

import (
	"errors"

	"github.com/cocoon-provider/cocoon-provider/internal/kinderr"
)

// Kinds of failure; every error Check returns matches one of them with
// errors.Is, and its message is written for the user.
var (
	// ErrNoPinnedKey: this build has no release key, so it cannot check
	// for updates.
	ErrNoPinnedKey = errors.New("no release key is pinned in this build")
	// ErrUnreachable: the feed or its signature could not be fetched.
	ErrUnreachable = errors.New("the release feed could not be reached")
	// ErrHTTPStatus: the server answered with a status other than 200.
	ErrHTTPStatus = errors.New("the release feed server answered with an error")
	// ErrUnsigned: the feed has no signature beside it.
	ErrUnsigned = errors.New("the release feed is not signed")
	// ErrSignature: the signature does not verify against a pinned key.
	ErrSignature = errors.New("the release feed's signature does not match")
	// ErrSignatureFile: the signature file holds something other than
	// base64 Ed25519 signatures (also ErrSignature).
	ErrSignatureFile = errors.New("the signature file does not hold Ed25519 signatures in base64")
	// ErrTooLarge: the feed or its signature is larger than allowed.
	ErrTooLarge = errors.New("the release feed is too large")
	// ErrMalformed: the feed verified but cannot be used.
	ErrMalformed = errors.New("the release feed is malformed")
	// ErrRollback: the feed is older than one already seen.
	ErrRollback = errors.New("the release feed is older than one already seen")
	// ErrDownload: a downloaded artifact does not match the feed.
	ErrDownload = errors.New("the download does not match the release feed")
)

// Error is a failure with a message for the user. Kind is one of the
// Err… values above; Err, when set, is the underlying cause.
type Error = kinderr.Error
