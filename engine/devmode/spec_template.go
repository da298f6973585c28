package devmode

import (
	"embed"
	"io/fs"
)

//go:embed all:spectemplate
var specTemplate embed.FS

// SpecTemplate is the static part of the dev-mode spec share: the files
// shared over 9p besides runtime/runtime.vars.
func SpecTemplate() fs.FS {
	sub, err := fs.Sub(specTemplate, "spectemplate")
	if err != nil {
		panic(err) // the directory is embedded above; this cannot fail
	}
	return sub
}
