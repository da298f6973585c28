package wallet

import (
	"errors"
	"io/fs"
)

// Keystore errors. Every error the keystore functions return is a
// *KeystoreError that wraps one of these (or an operating-system error), so
// callers test with errors.Is and read the path and the advice with errors.As.
var (
	// ErrWrongPassphrase: authenticated decryption failed. A wrong passphrase
	// and a file whose salt, nonce, metadata or ciphertext were altered are
	// cryptographically indistinguishable (both are a failed Poly1305 tag
	// check), so this one error covers both, and its advice says so.
	ErrWrongPassphrase = errors.New("the passphrase does not open this keystore")
	// ErrKeystoreNotFound: there is no file at the path (the error names it).
	ErrKeystoreNotFound = errors.New("no keystore file here")
	// ErrKeystoreExists: Create or Restore would replace an existing keystore.
	ErrKeystoreExists = errors.New("a keystore file already exists here")
	// ErrNotKeystore: the file does not start with the keystore magic.
	ErrNotKeystore = errors.New("this is not a cocoon-provider keystore file")
	// ErrKeystoreCorrupt: the header is malformed (unknown algorithm,
	// parameters out of range, bad lengths, trailing bytes), detected before
	// any decryption. The error's Detail says what was wrong.
	ErrKeystoreCorrupt = errors.New("the keystore file is damaged")
	// ErrKeystoreTruncated: the file ends before the lengths in its header say
	// it should.
	ErrKeystoreTruncated = errors.New("the keystore file is truncated")
	// ErrKeystoreVersion: the format version is not one this program reads.
	ErrKeystoreVersion = errors.New("unknown keystore format version")
	// ErrKeystorePermissions: the file is accessible to other users.
	ErrKeystorePermissions = errors.New("the keystore file is accessible to other users")
	// ErrKeystoreChanged: Save found a different file on disk than the one
	// this Keystore was opened from or last wrote.
	ErrKeystoreChanged = errors.New("the keystore file changed on disk since it was opened")
	// ErrKeystoreClosed: the Keystore was closed and its secrets wiped.
	ErrKeystoreClosed = errors.New("the keystore is closed")
	// ErrKeystoreNoEntry: Get or Delete of a name the keystore does not hold.
	ErrKeystoreNoEntry = errors.New("the keystore has no such entry")
	// ErrKeystoreEntry: an entry name or value that the keystore refuses.
	ErrKeystoreEntry = errors.New("invalid keystore entry")
	// ErrEmptyPassphrase: an empty passphrase would leave the secrets
	// effectively unencrypted.
	ErrEmptyPassphrase = errors.New("the passphrase is empty")
	// ErrKeystoreKDF: key-derivation parameters given to Create, Save or
	// Open that this program would not accept when reading a file.
	ErrKeystoreKDF = errors.New("key-derivation parameters out of range")
)

// KeystoreError is the error type of the keystore functions.
type KeystoreError struct {
	Op     string // what was being done: "create", "open", "save", "inspect", "export", "restore"
	Path   string // the keystore file
	Err    error  // one of the Err… sentinels above, or an operating-system error
	Detail string // specifics, such as "file is 97 bytes, its header needs 126"
	Cause  error  // the underlying operating-system error, if any
}

func (e *KeystoreError) Error() string {
	msg := "keystore"
	if e.Op != "" {
		msg += " " + e.Op
	}
	if e.Path != "" {
		msg += " " + e.Path
	}
	msg += ": " + e.Err.Error()
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	if e.Cause != nil && e.Cause != e.Err && e.Cause != fs.ErrNotExist {
		msg += ": " + e.Cause.Error()
	}
	if h := e.Hint(); h != "" {
		msg += ". " + h
	}
	return msg
}

// Unwrap returns the sentinel and, if there is one, the OS error beneath it,
// so that errors.Is(err, fs.ErrNotExist) also works.
func (e *KeystoreError) Unwrap() []error {
	if e.Cause != nil && e.Cause != e.Err {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// Hint says what the user can do about the error; "" when there is nothing
// specific to say.
func (e *KeystoreError) Hint() string {
	switch {
	case errors.Is(e.Err, ErrWrongPassphrase) && (e.Op == "save" || e.Op == "change passphrase"):
		return "Give the passphrase the keystore was opened with (it is case-sensitive)"
	case errors.Is(e.Err, ErrWrongPassphrase):
		return "Check the passphrase (it is case-sensitive) and try again. A wrong passphrase and a " +
			"damaged or altered file cannot be told apart: if the passphrase is certainly right, " +
			"restore the keystore from a backup"
	case errors.Is(e.Err, ErrKeystoreNotFound):
		return "Create a keystore there, restore one from a backup, or give the path of an existing one"
	case errors.Is(e.Err, ErrKeystoreExists) && e.Op == "restore":
		return "Nothing was written. To replace it, restore with overwrite: the old file is then kept " +
			"as " + e.Path + ".bak-<time>"
	case errors.Is(e.Err, ErrKeystoreExists):
		return "Nothing was written. Open the existing keystore, or move it away first, or choose another path"
	case errors.Is(e.Err, ErrNotKeystore):
		return "Check the path: the file is not a keystore, or its first bytes were damaged; " +
			"if it was your keystore, restore it from a backup"
	case errors.Is(e.Err, ErrKeystoreCorrupt), errors.Is(e.Err, ErrKeystoreTruncated):
		return "The secrets cannot be recovered from this file; restore the keystore from a backup"
	case errors.Is(e.Err, ErrKeystoreVersion):
		return "The file was written by a newer cocoon-provider, or its header was damaged: upgrade " +
			"cocoon-provider, or restore the keystore from a backup"
	case errors.Is(e.Err, ErrKeystorePermissions):
		return "Only you should be able to read it: run `chmod 600 " + e.Path + "` and try again " +
			"(and consider the secrets in it exposed to whoever could read it)"
	case errors.Is(e.Err, ErrKeystoreChanged):
		return "Nothing was written. Another program replaced it; open the keystore again and redo the change"
	case errors.Is(e.Err, ErrKeystoreClosed):
		return "Open the keystore again"
	case errors.Is(e.Err, ErrEmptyPassphrase):
		return "Choose a passphrase"
	case errors.Is(e.Err, fs.ErrPermission):
		return "Check that you own the file and its directory"
	}
	return ""
}

// keystoreErr builds a *KeystoreError for the caller to complete with
// annotateKeystoreErr.
func keystoreErr(sentinel error, detail string) *KeystoreError {
	return &KeystoreError{Err: sentinel, Detail: detail}
}

// annotateKeystoreErr fills in op and path on a *KeystoreError made deeper
// down, or wraps any other error in one. Use it deferred on a named result.
func annotateKeystoreErr(err *error, op, path string) {
	if *err == nil {
		return
	}
	var ke *KeystoreError
	if errors.As(*err, &ke) {
		if ke.Op == "" {
			ke.Op = op
		}
		if ke.Path == "" {
			ke.Path = path
		}
		return
	}
	*err = &KeystoreError{Op: op, Path: path, Err: *err}
}
