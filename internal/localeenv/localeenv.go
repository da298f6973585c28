// Package localeenv gives the GUI toolkit a language it can parse on
// systems whose locale is C or POSIX with a character set (C.UTF-8, the
// default of Debian containers and servers): the toolkit reads the
// language part "C" and logs an error at start-up, in every command.
//
// It sets LANGUAGE=en when the effective locale is C.* or POSIX.* and
// LANGUAGE is unset. GNU gettext ignores LANGUAGE under the C locale, so
// child processes (QEMU) behave exactly as before.
//
// main imports it blank. Go initialises packages in import-path order
// among those whose dependencies are ready (Go 1.21+), so this package,
// which needs only os and strings, runs before the toolkit's locale
// package, whose dependencies sort after it.
package localeenv

import (
	"os"
	"strings"
)

func init() { apply(os.Getenv, os.Setenv) }

// apply sets LANGUAGE when the effective locale is C or POSIX with a
// character set or modifier.
func apply(getenv func(string) string, setenv func(string, string) error) {
	if getenv("LANGUAGE") != "" {
		return
	}
	loc := ""
	for _, k := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if loc = getenv(k); loc != "" {
			break
		}
	}
	for _, base := range []string{"C.", "C@", "POSIX.", "POSIX@"} {
		if strings.HasPrefix(loc, base) {
			_ = setenv("LANGUAGE", "en")
			return
		}
	}
}
