// Command cocoon-provider rents this machine's spare GPU time to the COCOON
// network. With no command it opens the desktop app; the subcommands serve
// headless use. See README.md.
package main

import (
	"os"

	// Before the GUI toolkit reads the locale: see the package.
	_ "github.com/cocoon-provider/cocoon-provider/internal/localeenv"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
