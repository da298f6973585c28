package devmode

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// agentPackage is the guest agent's import path relative to the module root.
const agentPackage = "./engine/devmode/guestagent"

// agentBuildEnv fixes what decides the agent's bytes: a static
// linux/amd64 binary for the baseline x86-64 CPU (QEMU's default TCG CPU
// has no AVX).
var agentBuildEnv = []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1"}

// agentBuildFlags make the binary reproducible: no file system paths and no
// VCS stamp (it would change with every uncommitted edit elsewhere).
var agentBuildFlags = []string{"-trimpath", "-buildvcs=false", "-ldflags=-s -w"}

func goEnv() []string { return append(os.Environ(), agentBuildEnv...) }

// buildAgent compiles the guest agent from the module at srcDir into out.
func buildAgent(ctx context.Context, goBin, srcDir, out string) error {
	args := append([]string{"build"}, agentBuildFlags...)
	args = append(args, "-o", out, agentPackage)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = srcDir
	cmd.Env = goEnv()
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the guest agent (%s %s in %s): %w\n%s", goBin, strings.Join(args, " "), srcDir, err, msg)
	}
	return nil
}

// goListPackage is the part of `go list -json` the source hash needs.
type goListPackage struct {
	ImportPath string
	Dir        string
	Standard   bool
	GoFiles    []string
	EmbedFiles []string
	Module     *struct {
		Path    string
		Version string
		Main    bool
		Replace *struct {
			Path    string
			Version string
		}
	}
	Error *struct{ Err string }
}

// agentSourceHash hashes everything the agent is built from: the contents
// of its own module's files (agent, kmod), the versions of the modules it
// imports, the Go version and the build settings. Editing any agent file,
// bumping a dependency or changing toolchain gives a new hash.
func agentSourceHash(ctx context.Context, goBin, srcDir string) (string, error) {
	cmd := exec.CommandContext(ctx, goBin, "list", "-deps", "-json", agentPackage)
	cmd.Dir = srcDir
	cmd.Env = goEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("list the guest agent's sources in %s (is SourceDir the cocoon-provider module root?): %w: %s", srcDir, err, strings.TrimSpace(stderr.String()))
	}
	ver, err := exec.CommandContext(ctx, goBin, "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("ask %s for its version: %w", goBin, err)
	}
	var pkgs []goListPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goListPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("read go list output: %w", err)
		}
		if p.Error != nil {
			return "", fmt.Errorf("guest agent package %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].ImportPath < pkgs[j].ImportPath })

	h := sha256.New()
	fmt.Fprintf(h, "go %s\nenv %s\nflags %s\n", strings.TrimSpace(string(ver)), strings.Join(agentBuildEnv, " "), strings.Join(agentBuildFlags, " "))
	for _, p := range pkgs {
		switch {
		case p.Standard:
			continue // fixed by the Go version
		case p.Module == nil:
			return "", fmt.Errorf("guest agent dependency %s is outside any module", p.ImportPath)
		case p.Module.Main || (p.Module.Replace != nil && p.Module.Replace.Version == ""):
			// Our own code, or a dependency replaced by a local directory:
			// hash the files themselves.
			files := append(append([]string(nil), p.GoFiles...), p.EmbedFiles...)
			sort.Strings(files)
			fmt.Fprintf(h, "pkg %s\n", p.ImportPath)
			for _, f := range files {
				sum, _, err := sha256File(filepath.Join(p.Dir, f))
				if err != nil {
					return "", err
				}
				fmt.Fprintf(h, "file %s %s\n", f, sum)
			}
		default:
			m := p.Module.Path + "@" + p.Module.Version
			if r := p.Module.Replace; r != nil {
				m += " => " + r.Path + "@" + r.Version
			}
			fmt.Fprintf(h, "dep %s %s\n", p.ImportPath, m)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkAgentBinary accepts only a static linux/amd64 executable: the
// initramfs has no dynamic loader and no libc.
func checkAgentBinary(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("guest agent %s is not an ELF executable: %w; build it with CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build %s", p, err, agentPackage)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		return fmt.Errorf("guest agent %s is not a linux/amd64 executable (machine %v, type %v)", p, f.Machine, f.Type)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("guest agent %s is dynamically linked; build it with CGO_ENABLED=0", p)
		}
	}
	return nil
}
