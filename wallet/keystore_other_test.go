//go:build !unix

package wallet

import "errors"

func mkfifoForTest(string) error { return errors.ErrUnsupported }
