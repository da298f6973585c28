//go:build unix

package wallet

import (
	"fmt"
	"io/fs"
	"os"
)

// checkKeystoreMode refuses a keystore that users other than its owner can
// read or write.
func checkKeystoreMode(fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return keystoreErr(ErrKeystorePermissions, fmt.Sprintf("mode %04o, want 0600", perm))
	}
	return nil
}

// syncKeystoreDir makes a rename or link in dir durable.
func syncKeystoreDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return serr
	}
	return cerr
}
