package worker

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Names of the fake-TON overlay (§1.1, §3.3).
const (
	// FakeTONConfigFile is the fake root config the overlay adds to the
	// spec, relative to the spec root; measured.
	FakeTONConfigFile = "fake-ton-config.json"
	// FakeTONDir is the overlay's directory in a release: it holds
	// FakeTONConfigFile and a runtime.vars with the contract codes.
	FakeTONDir = "spec/fake-ton"
	// specInitFile is the script spec.service runs (§2.9).
	specInitFile = "init"
)

// The lines the fake-TON rewrite drops, inserts and appends (§3.3).
const (
	fakeTONRenderTONConfig = "cocoon-render-ton-config"
	fakeTONRenderLine      = "cocoon-render-config " + FakeTONConfigFile
	fakeTONSystemctl       = "systemctl"
	fakeTONExecStart       = "ExecStart="
	fakeTONRunner          = "-runner"
	fakeTONDisableTON      = " --disable-ton /run/spec/" + FakeTONConfigFile
)

// ErrFakeTONApplied is returned by RewriteSpecForFakeTON for a spec that
// has already been rewritten: applying the rewrite twice would insert the
// render line and the --disable-ton argument twice.
var ErrFakeTONApplied = errors.New("the spec is already rewritten for fake TON; start again from the release's spec template")

// SpecEdit is what a spec rewrite does to one file.
type SpecEdit struct {
	// File is the path relative to the spec root, slash-separated.
	File string
	// New: the file is added, not changed.
	New bool
	// Removed and Added are the changed lines: the dropped or replaced
	// lines, and the inserted or replacing ones, in file order.
	Removed, Added []string
}

// Summary words the edit on one line, e.g. "init: 1 line removed, 1 added".
func (e SpecEdit) Summary() string {
	if e.New {
		return e.File + ": added"
	}
	return fmt.Sprintf("%s: %s removed, %d added", e.File, plural(len(e.Removed), "line"), len(e.Added))
}

// Diff lists the edit's lines as "- old" and "+ new".
func (e SpecEdit) Diff() []string {
	out := make([]string, 0, len(e.Removed)+len(e.Added))
	for _, l := range e.Removed {
		out = append(out, "- "+l)
	}
	for _, l := range e.Added {
		out = append(out, "+ "+l)
	}
	return out
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// SpecRewrite is the result of RewriteSpecForFakeTON.
type SpecRewrite struct {
	// Files are the static files that differ from the template, by path
	// relative to the spec root: the rewritten ones and the added fake
	// root config. They go into RenderOptions.StaticFiles.
	Files map[string][]byte
	// Executables are the files of Files that are executable in the
	// template (init): RenderOptions.Executables, so that they stay so.
	Executables []string
	// Edits describe each file of Files, in path order.
	Edits []SpecEdit
}

// RewriteSpecForFakeTON makes the official launcher's fake-TON changes to
// a worker spec template (§3.3), without touching spec:
//
//   - it adds FakeTONConfigFile with the content fakeTONConfig (from the
//     release's spec/fake-ton/);
//   - in init it drops every line that mentions cocoon-render-ton-config
//     and inserts "cocoon-render-config fake-ton-config.json" before the
//     first line that contains "systemctl" (the first after the drop);
//   - in every unit file (*.service, outside runtime/) it appends
//     " --disable-ton /run/spec/fake-ton-config.json" to each ExecStart=
//     line that contains "-runner".
//
// Line endings and every other byte stay as they were. The TON configs
// (global.config.json, runtime/global.config.json) are not the template's
// business: in fake-TON the launcher copies neither, which is the caller's
// part.
//
// It refuses a spec without init, an init without a systemctl line (there
// is nowhere to put the render line), and, with ErrFakeTONApplied, a spec
// that already has FakeTONConfigFile, the render line or a --disable-ton
// argument: the rewrite is applied once, to the release's template.
func RewriteSpecForFakeTON(spec fs.FS, fakeTONConfig []byte) (SpecRewrite, error) {
	if len(fakeTONConfig) == 0 {
		return SpecRewrite{}, errors.New("fake-TON rewrite: the fake root config is empty; take " + FakeTONConfigFile + " from the release's " + FakeTONDir)
	}
	if _, err := fs.Stat(spec, FakeTONConfigFile); err == nil {
		return SpecRewrite{}, fmt.Errorf("fake-TON rewrite: %s exists: %w", FakeTONConfigFile, ErrFakeTONApplied)
	}
	init, err := fs.ReadFile(spec, specInitFile)
	if err != nil {
		return SpecRewrite{}, fmt.Errorf("fake-TON rewrite: read %s: %w", specInitFile, err)
	}
	rw := SpecRewrite{Files: map[string][]byte{FakeTONConfigFile: fakeTONConfig}}
	out, edit, err := rewriteInit(init)
	if err != nil {
		return SpecRewrite{}, fmt.Errorf("fake-TON rewrite: %s: %w", specInitFile, err)
	}
	rw.Files[specInitFile] = out
	if info, err := fs.Stat(spec, specInitFile); err == nil && info.Mode().Perm()&0o100 != 0 {
		rw.Executables = append(rw.Executables, specInitFile)
	}
	rw.Edits = append(rw.Edits, edit, SpecEdit{File: FakeTONConfigFile, New: true})

	err = fs.WalkDir(spec, ".", func(name string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && name == RuntimeDir:
			return fs.SkipDir
		case d.IsDir() || !d.Type().IsRegular() || path.Ext(name) != ".service":
			return nil
		}
		data, err := fs.ReadFile(spec, name)
		if err != nil {
			return err
		}
		out, edit, err := rewriteUnit(name, data)
		if err != nil || edit.File == "" {
			return err
		}
		rw.Files[name] = out
		rw.Edits = append(rw.Edits, edit)
		if info, err := d.Info(); err == nil && info.Mode().Perm()&0o100 != 0 {
			rw.Executables = append(rw.Executables, name)
		}
		return nil
	})
	if err != nil {
		return SpecRewrite{}, fmt.Errorf("fake-TON rewrite: %w", err)
	}
	slices.SortFunc(rw.Edits, func(a, b SpecEdit) int { return strings.Compare(a.File, b.File) })
	return rw, nil
}

// splitLines splits data into lines that keep their "\n"; the last one
// may lack it.
func splitLines(data []byte) []string { return strings.SplitAfter(string(data), "\n") }

// cutEOL splits a line into its text and its line ending ("\n", "\r\n" or none).
func cutEOL(line string) (text, eol string) {
	text = strings.TrimSuffix(line, "\n")
	eol = line[len(text):]
	if t := strings.TrimSuffix(text, "\r"); len(t) < len(text) {
		return t, "\r" + eol
	}
	return text, eol
}

func rewriteInit(data []byte) ([]byte, SpecEdit, error) {
	edit := SpecEdit{File: specInitFile}
	var b strings.Builder
	inserted := false
	eolOf := "\n"
	for _, line := range splitLines(data) {
		if line == "" {
			continue
		}
		text, eol := cutEOL(line)
		if eol != "" {
			eolOf = eol
		}
		switch {
		case strings.TrimSpace(text) == fakeTONRenderLine:
			return nil, SpecEdit{}, fmt.Errorf("it already renders %s: %w", FakeTONConfigFile, ErrFakeTONApplied)
		case strings.Contains(text, fakeTONRenderTONConfig):
			edit.Removed = append(edit.Removed, text)
			continue
		case !inserted && strings.Contains(text, fakeTONSystemctl):
			b.WriteString(fakeTONRenderLine + eolOf)
			edit.Added = append(edit.Added, fakeTONRenderLine)
			inserted = true
		}
		b.WriteString(line)
	}
	if !inserted {
		return nil, SpecEdit{}, errors.New("no line contains systemctl, so there is no place for the fake root config's render line; is this the worker spec?")
	}
	return []byte(b.String()), edit, nil
}

// rewriteUnit returns the unit with --disable-ton appended to its runner's
// ExecStart= lines; edit.File is empty when nothing changes.
func rewriteUnit(name string, data []byte) ([]byte, SpecEdit, error) {
	var edit SpecEdit
	var b strings.Builder
	for _, line := range splitLines(data) {
		text, eol := cutEOL(line)
		if strings.HasPrefix(strings.TrimSpace(text), fakeTONExecStart) && strings.Contains(text, fakeTONRunner) {
			if strings.Contains(text, "--disable-ton") {
				return nil, SpecEdit{}, fmt.Errorf("%s already passes --disable-ton: %w", name, ErrFakeTONApplied)
			}
			edit.File = name
			edit.Removed = append(edit.Removed, text)
			edit.Added = append(edit.Added, text+fakeTONDisableTON)
			line = text + fakeTONDisableTON + eol
		}
		b.WriteString(line)
	}
	if edit.File == "" {
		return data, edit, nil
	}
	return []byte(b.String()), edit, nil
}
