package wallet

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// readKeystoreFile reads the keystore at path, refusing anything that is not
// a regular file or is larger than a keystore can be. With checkMode it also
// refuses a file that other users can access (on Unix).
func readKeystoreFile(path string, checkMode bool) ([]byte, fs.FileInfo, error) {
	// Stat first: opening a FIFO for reading would block.
	if fi, err := os.Stat(path); err != nil {
		return nil, nil, keystoreOSErr(path, err)
	} else if !fi.Mode().IsRegular() {
		return nil, nil, keystoreErr(ErrNotKeystore, "it is not a regular file ("+fi.Mode().Type().String()+")")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, keystoreOSErr(path, err)
	}
	defer f.Close()
	// Stat the open file, not the path, so that the mode checked is the
	// mode of what is read.
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, keystoreOSErr(path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, keystoreErr(ErrNotKeystore, "it is not a regular file ("+fi.Mode().Type().String()+")")
	}
	if checkMode {
		if err := checkKeystoreMode(fi); err != nil {
			return nil, nil, err
		}
	}
	data, err := readKeystoreBytes(f)
	if err != nil {
		return nil, nil, err
	}
	return data, fi, nil
}

// readKeystoreBytes reads at most one byte more than a keystore may have.
func readKeystoreBytes(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, keystoreMaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > keystoreMaxFileSize {
		return nil, keystoreErr(ErrKeystoreCorrupt, fmt.Sprintf("larger than %d bytes, far more than a keystore", keystoreMaxFileSize))
	}
	return data, nil
}

// keystoreOSErr turns a missing file into ErrKeystoreNotFound naming the
// absolute path that was looked at.
func keystoreOSErr(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &KeystoreError{Err: ErrKeystoreNotFound, Path: absKeystorePath(path), Cause: fs.ErrNotExist}
	}
	return err
}

func absKeystorePath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// keystoreWriter writes keystore files atomically: a temporary file in the
// same directory, fsync, then rename (or hard link, when the target must not
// exist), then fsync of the directory. A failure at any step leaves the
// previous file as it was and removes the temporary file.
type keystoreWriter struct {
	// fault, for tests, is called before each step with its name; an
	// error it returns is that step's failure.
	fault func(step string) error
}

func (w keystoreWriter) step(name string) error {
	if w.fault != nil {
		return w.fault(name)
	}
	return nil
}

// write puts data at path. With replace it atomically replaces an existing
// file; without, it fails with ErrKeystoreExists if path exists.
func (w keystoreWriter) write(path string, data []byte, replace bool) (err error) {
	dir := filepath.Dir(path)
	if err := w.step("mkdir"); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := w.step("create"); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp, closed := f.Name(), false
	defer func() {
		if !closed {
			f.Close()
		}
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := w.step("chmod"); err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if err := w.step("write"); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := w.step("sync"); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	closed = true
	if err := f.Close(); err != nil {
		return err
	}
	if replace {
		if err := w.step("rename"); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	} else {
		if err := w.step("link"); err != nil {
			return err
		}
		if err := linkNoClobber(tmp, path); err != nil {
			return err
		}
		// The keystore is in place under both names; a temporary name
		// left behind holds only ciphertext, so a failure here is not an
		// error of the write.
		os.Remove(tmp)
	}
	if err := w.step("syncdir"); err != nil {
		return fmt.Errorf("the new file is in place, but syncing its directory failed: %w", err)
	}
	if err := syncKeystoreDir(dir); err != nil {
		return fmt.Errorf("the new file is in place, but syncing its directory failed: %w", err)
	}
	return nil
}

// linkNoClobber gives the file at oldpath the name newpath too, failing with
// ErrKeystoreExists if newpath exists. A hard link does this atomically;
// where the filesystem has no hard links, it falls back to a check and a
// rename, which a concurrent writer could race.
func linkNoClobber(oldpath, newpath string) error {
	err := os.Link(oldpath, newpath)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return keystoreErr(ErrKeystoreExists, "")
	}
	if _, serr := os.Lstat(newpath); serr == nil {
		return keystoreErr(ErrKeystoreExists, "")
	} else if !errors.Is(serr, fs.ErrNotExist) {
		return serr
	}
	return os.Rename(oldpath, newpath)
}

// keepBackup gives the existing file at path a second name,
// path.bak-<UTC timestamp>[-N], and returns it. The file stays at path.
func keepBackup(path string, now time.Time) (string, error) {
	base := path + ".bak-" + now.UTC().Format("20060102T150405Z")
	for i := 1; i <= 100; i++ {
		bak := base
		if i > 1 {
			bak = fmt.Sprintf("%s-%d", base, i)
		}
		err := os.Link(path, bak)
		if err == nil {
			return bak, syncKeystoreDir(filepath.Dir(path))
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		// No hard links here: copy instead.
		data, rerr := os.ReadFile(path)
		if rerr != nil {
			return "", rerr
		}
		if werr := (keystoreWriter{}).write(bak, data, false); werr != nil {
			if errors.Is(werr, ErrKeystoreExists) {
				continue
			}
			return "", werr
		}
		return bak, nil
	}
	return "", fmt.Errorf("too many backups named %s*", base)
}
