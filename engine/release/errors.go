package release

import (
	"errors"

	"github.com/cocoon-provider/cocoon-provider/internal/kinderr"
)

// Kinds of failure; every error this package returns matches one of them
// with errors.Is, and its message says what to do.
var (
	// ErrSource: the Source is unusable (address, SHA-256, version).
	ErrSource = errors.New("the release source is not usable")
	// ErrUnreachable: the download could not be fetched.
	ErrUnreachable = errors.New("the release could not be downloaded")
	// ErrHTTPStatus: the server answered with an error status.
	ErrHTTPStatus = errors.New("the release server answered with an error")
	// ErrIncomplete: the download stopped before the end; fetching again
	// resumes it.
	ErrIncomplete = errors.New("the release download is incomplete")
	// ErrTooLarge: the archive or its contents are over a size limit.
	ErrTooLarge = errors.New("the release is too large")
	// ErrDiskSpace: not enough free disk space.
	ErrDiskSpace = errors.New("not enough free disk space for the release")
	// ErrChecksum: the archive's SHA-256 is not the one given.
	ErrChecksum = errors.New("the release archive's SHA-256 does not match")
	// ErrSignature: the detached signature is missing, unverifiable or
	// wrong.
	ErrSignature = errors.New("the release signature does not verify")
	// ErrFormat: the archive is not a tar compressed with xz or gzip.
	ErrFormat = errors.New("the release archive format is not supported")
	// ErrUnsafe: the archive holds an entry that would be unsafe to
	// unpack (a path leaving the release, a device file, …).
	ErrUnsafe = errors.New("the release archive holds an unsafe entry")
	// ErrLayout: the archive is not a COCOON worker release.
	ErrLayout = errors.New("the archive is not a COCOON worker release")
	// ErrExists: a different release already has this version.
	ErrExists = errors.New("another release has this version")
	// ErrNotFound: no release has this version.
	ErrNotFound = errors.New("no such release")
	// ErrNoCurrent: no release is active yet.
	ErrNoCurrent = errors.New("no release is active")
	// ErrNoPrevious: there is no previous release to roll back to.
	ErrNoPrevious = errors.New("no previous release")
	// ErrImageHashUnknown: the release's image hash cannot be computed.
	ErrImageHashUnknown = errors.New("the release's image hash is not known")
	// ErrNotAllowed: the release's image hash is not on the allow-list.
	ErrNotAllowed = errors.New("the release's image hash is not allowed")
	// ErrUnchecked: Activate was asked for a release CheckAllowed has not
	// accepted.
	ErrUnchecked = errors.New("the release has not been checked against the allow-list")
	// ErrStore: the release directory could not be read or written.
	ErrStore = errors.New("the release directory could not be used")
)

// Error is a failure with a message for the user. Kind is one of the
// Err… values above; Err, when set, is the underlying cause.
type Error = kinderr.Error

func newError(kind error, err error, msg string) *Error {
	return &Error{Kind: kind, Err: err, Msg: msg}
}
