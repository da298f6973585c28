package worker

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Names inside the spec directory (§2.3).
const (
	// RuntimeDir is the per-launch part of the spec; it is not measured.
	RuntimeDir = "runtime"
	// RuntimeVarsFile is the runtime variables file, relative to the spec root.
	RuntimeVarsFile = RuntimeDir + "/runtime.vars"
	// MaxSpecFileSize is the largest static file the guest accepts.
	// cocoon-prepare-spec rejects files "> 10 MB"; whether MB means 10^6 or
	// 2^20 bytes is not specified, so the stricter 10^7 is enforced.
	MaxSpecFileSize = 10_000_000
)

// File modes the guest's spec hash allows (§2.3): the executable bit is
// part of the hash, nothing else is.
const (
	modeFile = 0o644
	modeExec = 0o755
)

// RenderOptions adjusts RenderSpec.
type RenderOptions struct {
	// Replace lets RenderSpec replace an existing dst. Without it an
	// existing dst is an error.
	Replace bool

	// StrictModes rejects template files whose permission bits are not
	// exactly 0644 or 0755. Without it a file is executable when its
	// owner-execute bit is set and is written as 0755, otherwise as 0644:
	// the rule git applies when it records a mode, which is what the guest
	// hashes. That default accepts a release unpacked under a umask such as
	// 002 (files 0664/0775) with the same result.
	StrictModes bool

	// Executables names template files (slash-separated, relative to the
	// template root) to write as 0755 whatever their source mode: for
	// fs.FS implementations that carry no modes, such as embed.FS. A name
	// that is not a template file is an error.
	Executables []string

	// StaticFiles adds or replaces files of the measured (static) part,
	// written as 0644 unless a replaced template file is named in
	// Executables; the official launcher copies ton_config_base there
	// as "global.config.json" (§2.3). Keys are slash-separated paths
	// relative to the spec root, outside RuntimeDir.
	StaticFiles map[string][]byte

	// RuntimeFiles adds files under RuntimeDir, written as 0600, such as
	// "global.config.json" (the full TON config with liteservers). Keys are
	// relative to RuntimeDir; "runtime.vars" is reserved.
	RuntimeFiles map[string][]byte
}

// RenderSpec builds the spec directory QEMU shares with the guest (§2.3)
// at dst: the static template copied byte for byte (executable bits kept,
// see RenderOptions.StrictModes), opts.StaticFiles, opts.RuntimeFiles and
// RuntimeVarsFile from vars (mode 0600: it holds the node wallet key).
//
// The template may hold only regular files (no symlinks or other special
// files), none larger than MaxSpecFileSize, and no ".git" entry at any
// depth, because the guest refuses such a spec; it must not contain
// RuntimeVarsFile. Directories are written 0755, except the spec root and
// RuntimeDir, which are 0700.
//
// The directory is built under a temporary name next to dst and renamed
// into place, so dst is either absent, the old directory, or complete;
// on error nothing is left behind.
func RenderSpec(dst string, static fs.FS, vars RuntimeVars, opts RenderOptions) (err error) {
	if dst == "" {
		return errors.New("render spec: empty destination path")
	}
	dst = filepath.Clean(dst)
	varsData, err := vars.Bytes()
	if err != nil {
		return fmt.Errorf("render spec: %w", err)
	}
	files, err := scanTemplate(static, opts)
	if err != nil {
		return fmt.Errorf("render spec: %w", err)
	}
	if _, err := os.Lstat(dst); err == nil {
		if !opts.Replace {
			return fmt.Errorf("render spec: %s already exists; remove it or render with Replace", dst)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("render spec: %w", err)
	}

	parent := filepath.Dir(dst)
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return fmt.Errorf("render spec: create temporary directory next to %s: %w", dst, err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp) // best effort: the error already says what failed
		}
	}()
	if err := writeSpecTree(tmp, static, files, varsData, opts); err != nil {
		return fmt.Errorf("render spec: %w", err)
	}
	if err := swapDir(tmp, dst, opts.Replace); err != nil {
		return fmt.Errorf("render spec: %w", err)
	}
	syncDir(parent)
	return nil
}

// templateFile is one file to write, from the template or from opts.
type templateFile struct {
	name string // slash-separated, relative to the spec root
	exec bool
	data []byte // nil: copy name from the template
}

// scanTemplate walks the template and checks every entry before anything
// is written.
func scanTemplate(static fs.FS, opts RenderOptions) ([]templateFile, error) {
	if static == nil {
		return nil, errors.New("no static template")
	}
	var files []templateFile
	seen := map[string]bool{}
	err := fs.WalkDir(static, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read template: %w", err)
		}
		if d.Name() == ".git" {
			return fmt.Errorf("template entry %s: nested .git is not allowed in a spec; copy the files without it", name)
		}
		typ := d.Type()
		if d.IsDir() {
			return nil
		}
		if !typ.IsRegular() {
			return fmt.Errorf("template entry %s: %s; a spec may hold only regular files (replace links by copies)", name, describeType(typ))
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("template entry %s: %w", name, err)
		}
		if info.Size() > MaxSpecFileSize {
			return fmt.Errorf("template entry %s: %d bytes; the guest rejects files over %d bytes", name, info.Size(), MaxSpecFileSize)
		}
		perm := info.Mode().Perm()
		if opts.StrictModes && perm != modeFile && perm != modeExec {
			return fmt.Errorf("template entry %s: mode %04o; a spec file must be 0644 or 0755 (chmod it)", name, perm)
		}
		if name == RuntimeVarsFile {
			return fmt.Errorf("template entry %s: the template must not contain it; it is generated", name)
		}
		files = append(files, templateFile{name: name, exec: perm&0o100 != 0})
		seen[name] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(opts.StaticFiles) {
		if err := checkExtraName(name); err != nil {
			return nil, fmt.Errorf("static file %q: %w", name, err)
		}
		if name == RuntimeDir || strings.HasPrefix(name, RuntimeDir+"/") {
			return nil, fmt.Errorf("static file %q: %s/ is the runtime part; use RuntimeFiles", name, RuntimeDir)
		}
		data := opts.StaticFiles[name]
		if len(data) > MaxSpecFileSize {
			return nil, fmt.Errorf("static file %q: %d bytes; the guest rejects files over %d bytes", name, len(data), MaxSpecFileSize)
		}
		i := slices.IndexFunc(files, func(f templateFile) bool { return f.name == name })
		if i >= 0 {
			files[i] = templateFile{name: name, data: data}
		} else {
			files = append(files, templateFile{name: name, data: data})
		}
	}
	for _, name := range sortedKeys(opts.RuntimeFiles) {
		if err := checkExtraName(name); err != nil {
			return nil, fmt.Errorf("runtime file %q: %w", name, err)
		}
		full := RuntimeDir + "/" + name
		if full == RuntimeVarsFile {
			return nil, fmt.Errorf("runtime file %q: reserved; it is generated from the runtime variables", name)
		}
		if slices.ContainsFunc(files, func(f templateFile) bool { return f.name == full }) {
			return nil, fmt.Errorf("runtime file %q: the template already has %s", name, full)
		}
		files = append(files, templateFile{name: full, data: opts.RuntimeFiles[name]})
	}
	// After StaticFiles, so that a replaced template file named here is
	// written executable too (a rewritten init, RewriteSpecForFakeTON).
	for _, name := range opts.Executables {
		if !seen[name] {
			return nil, fmt.Errorf("executable %q: no such file in the template", name)
		}
		for i := range files {
			if files[i].name == name {
				files[i].exec = true
			}
		}
	}
	return files, nil
}

func checkExtraName(name string) error {
	if !fs.ValidPath(name) || name == "." {
		return errors.New("not a clean relative slash-separated path")
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == ".git" {
			return errors.New(".git is not allowed in a spec")
		}
	}
	return nil
}

func describeType(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	default:
		return "not a regular file"
	}
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// writeSpecTree writes files and runtime.vars below root.
func writeSpecTree(root string, static fs.FS, files []templateFile, varsData []byte, opts RenderOptions) error {
	if err := os.Chmod(root, 0o700); err != nil {
		return err
	}
	for _, f := range files {
		mode := fs.FileMode(modeFile)
		switch {
		case strings.HasPrefix(f.name, RuntimeDir+"/"):
			mode = 0o600
		case f.exec:
			mode = modeExec
		}
		if err := mkdirs(root, path.Dir(f.name)); err != nil {
			return err
		}
		out := filepath.Join(root, filepath.FromSlash(f.name))
		if f.data != nil {
			if err := writeFileSync(out, f.data, mode); err != nil {
				return err
			}
			continue
		}
		if err := copyTemplateFile(static, f.name, out, mode); err != nil {
			return err
		}
	}
	if err := mkdirs(root, RuntimeDir); err != nil {
		return err
	}
	return writeFileSync(filepath.Join(root, filepath.FromSlash(RuntimeVarsFile)), varsData, 0o600)
}

// mkdirs creates dir (slash-separated, relative to root) and its parents:
// RuntimeDir as 0700, everything else 0755 whatever the umask.
func mkdirs(root, dir string) error {
	if dir == "." || dir == "" {
		return nil
	}
	if err := mkdirs(root, path.Dir(dir)); err != nil {
		return err
	}
	p := filepath.Join(root, filepath.FromSlash(dir))
	mode := fs.FileMode(0o755)
	if dir == RuntimeDir {
		mode = 0o700
	}
	if err := os.Mkdir(p, mode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	}
	return os.Chmod(p, mode)
}

func copyTemplateFile(static fs.FS, name, out string, mode fs.FileMode) error {
	in, err := static.Open(name)
	if err != nil {
		return fmt.Errorf("read template file %s: %w", name, err)
	}
	defer in.Close()
	// The walk saw a regular file; check again on the open file in case it
	// was replaced since.
	if info, err := in.Stat(); err != nil {
		return fmt.Errorf("read template file %s: %w", name, err)
	} else if !info.Mode().IsRegular() {
		return fmt.Errorf("template entry %s: %s; a spec may hold only regular files", name, describeType(info.Mode().Type()))
	}
	w, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	n, err := io.Copy(w, io.LimitReader(in, MaxSpecFileSize+1))
	if err == nil && n > MaxSpecFileSize {
		err = fmt.Errorf("template entry %s: over %d bytes; the guest rejects it", name, MaxSpecFileSize)
	}
	return finishFile(w, mode, err)
}

func writeFileSync(name string, data []byte, mode fs.FileMode) error {
	w, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return finishFile(w, mode, err)
}

// finishFile sets the exact mode (the umask may have cleared bits), syncs
// and closes w, returning the first error.
func finishFile(w *os.File, mode fs.FileMode, err error) error {
	if err == nil {
		err = w.Chmod(mode)
	}
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// swapDir renames tmp to dst. With replace, an existing dst is first moved
// aside and removed after the rename.
func swapDir(tmp, dst string, replace bool) error {
	if !replace {
		// os.Rename replaces an empty directory on some systems; Lstat
		// above already refused an existing dst, this catches a race.
		if _, err := os.Lstat(dst); err == nil {
			return fmt.Errorf("%s appeared while rendering; remove it or render with Replace", dst)
		}
		return os.Rename(tmp, dst)
	}
	if _, err := os.Lstat(dst); err != nil {
		return os.Rename(tmp, dst)
	}
	aside, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".old-")
	if err != nil {
		return err
	}
	old := filepath.Join(aside, "spec")
	if err := os.Rename(dst, old); err != nil {
		_ = os.Remove(aside) // empty: nothing was moved into it
		return fmt.Errorf("move old %s aside: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		if rerr := os.Rename(old, dst); rerr != nil {
			// Keep the old directory where it is rather than lose it.
			return errors.Join(err, fmt.Errorf("restore old %s (it is kept at %s): %w", dst, old, rerr))
		}
		_ = os.Remove(aside)
		return err
	}
	// The new spec is in place; a leftover old copy is harmless, so a
	// failure to remove it does not fail the render.
	_ = os.RemoveAll(aside)
	return nil
}

// syncDir flushes a directory entry change; failures are ignored because
// not every file system supports syncing a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
