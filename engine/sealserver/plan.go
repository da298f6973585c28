package sealserver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Release layout and wire facts (worker interface §1.1, §5).
const (
	// BinaryPath is seal-server's path inside a release root.
	BinaryPath = "bin/seal-server"
	// EnclavePath is the signed enclave seal-server loads. It must be this
	// exact file: the guest checks the enclave's MRENCLAVE.
	EnclavePath = "bin/enclave.signed.so"
	// DefaultPort is the vsock port guests connect to (host CID 2). The
	// guest's seal-client has it built in, so another port is only useful
	// behind a forwarder.
	DefaultPort uint32 = 12345
	// LogName is the log file, in the data directory's logs/ folder.
	LogName = "seal-server.log"
)

// ErrMissingFiles is wrapped by the errors of Locate and Plan.Err when
// the release lacks seal-server or its enclave.
var ErrMissingFiles = errors.New("seal-server files missing from the release")

// Files are seal-server's files in one release.
type Files struct {
	// Binary is <release>/bin/seal-server.
	Binary string `json:"binary"`
	// Enclave is <release>/bin/enclave.signed.so.
	Enclave string `json:"enclave"`
}

// Locate finds seal-server and its enclave in a release root (release
// Release.Path). The paths are returned even when the error (which wraps
// ErrMissingFiles) says one is missing or unusable.
func Locate(releaseDir string) (Files, error) {
	f := Files{
		Binary:  filepath.Join(releaseDir, filepath.FromSlash(BinaryPath)),
		Enclave: filepath.Join(releaseDir, filepath.FromSlash(EnclavePath)),
	}
	var probs []string
	if p := binaryProblem(f.Binary); p != "" {
		probs = append(probs, p)
	}
	if p := enclaveProblem(f.Enclave); p != "" {
		probs = append(probs, p)
	}
	if len(probs) > 0 {
		return f, fmt.Errorf("%w: %s", ErrMissingFiles, strings.Join(probs, "; "))
	}
	return f, nil
}

// binaryProblem says what is wrong with the seal-server binary, or "".
func binaryProblem(p string) string {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return BinaryPath + " is not in the release"
	case err != nil:
		return fmt.Sprintf("%s cannot be read: %v", BinaryPath, err)
	case !fi.Mode().IsRegular():
		return BinaryPath + " is not a regular file"
	case fi.Mode().Perm()&0o111 == 0:
		return BinaryPath + " is not executable"
	}
	return ""
}

// enclaveProblem says what is wrong with the enclave file, or "".
func enclaveProblem(p string) string {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return EnclavePath + " is not in the release"
	case err != nil:
		return fmt.Sprintf("%s cannot be read: %v", EnclavePath, err)
	case !fi.Mode().IsRegular():
		return EnclavePath + " is not a regular file"
	case fi.Size() == 0:
		return EnclavePath + " is empty"
	}
	return ""
}

// missingFilesFix is the next step when the release lacks the files.
const missingFilesFix = "Fetch the official worker release again: seal-server and enclave.signed.so ship only in its archive, and the enclave must be that exact file."

// Config is what a Plan is made from.
type Config struct {
	// ReleaseDir is the unpacked release root (release Release.Path).
	ReleaseDir string
	// DataDir is the app's data directory; the log goes to
	// <DataDir>/logs/seal-server.log. Empty: LogPath, or no log file.
	DataDir string
	// LogPath overrides the log file's path.
	LogPath string
	// Port is the vsock port; 0 means DefaultPort, which is left off the
	// command line as the reference launcher does.
	Port uint32
}

// Plan is what a Server runs, as plain data: seal-server
// --enclave-path <enclave> [--port N], from the release root, no shell.
type Plan struct {
	Files
	// Args follow Files.Binary on the command line.
	Args []string `json:"args"`
	// Dir is the working directory (the release root).
	Dir  string `json:"dir"`
	Port uint32 `json:"port"`
	// LogPath is the rotating log of its stdout and stderr ("" = none).
	LogPath string `json:"log_path,omitempty"`
	// Problems say what is missing from the release; a Plan with problems
	// cannot run (Err adds what to do).
	Problems []string `json:"problems,omitempty"`
}

// Describe makes the Plan for cfg. It runs nothing; files that are
// missing are listed in Problems rather than failing.
func Describe(cfg Config) Plan {
	files, _ := Locate(cfg.ReleaseDir)
	p := Plan{Files: files, Dir: cfg.ReleaseDir, Port: cfg.Port, LogPath: cfg.LogPath}
	if p.Port == 0 {
		p.Port = DefaultPort
	}
	if p.LogPath == "" && cfg.DataDir != "" {
		p.LogPath = filepath.Join(cfg.DataDir, "logs", LogName)
	}
	p.Args = []string{"--enclave-path", files.Enclave}
	if p.Port != DefaultPort {
		p.Args = append(p.Args, "--port", strconv.FormatUint(uint64(p.Port), 10))
	}
	for _, pr := range []string{binaryProblem(files.Binary), enclaveProblem(files.Enclave)} {
		if pr != "" {
			p.Problems = append(p.Problems, pr)
		}
	}
	return p
}

// Argv is the whole command line: the binary, then Args.
func (p Plan) Argv() []string { return append([]string{p.Binary}, p.Args...) }

// Err is nil when the Plan can run; otherwise it wraps ErrMissingFiles.
func (p Plan) Err() error {
	switch {
	case len(p.Problems) > 0:
		return fmt.Errorf("seal-server: %w: %s. %s", ErrMissingFiles, strings.Join(p.Problems, "; "), missingFilesFix)
	case p.Binary == "" || p.Enclave == "":
		return fmt.Errorf("seal-server: %w: the plan names no binary or enclave", ErrMissingFiles)
	}
	return nil
}

// Lines describe the Plan for a dry-run printer, one fact a line.
func (p Plan) Lines() []string {
	lines := []string{
		"seal-server command: " + quoteArgv(p.Argv()),
		"  working directory: " + p.Dir,
		fmt.Sprintf("  listens on: vsock port %d, any CID (guests dial host CID 2)", p.Port),
		"  enclave: " + p.Enclave,
	}
	if p.LogPath != "" {
		lines = append(lines, "  log: "+p.LogPath+" (rotated)")
	} else {
		lines = append(lines, "  log: kept in memory only")
	}
	if p.Port != DefaultPort {
		lines = append(lines, fmt.Sprintf("  note: guests' seal-client dials port %d; port %d needs a forwarder", DefaultPort, p.Port))
	}
	for _, pr := range p.Problems {
		lines = append(lines, "  problem: "+pr)
	}
	if len(p.Problems) > 0 {
		lines = append(lines, "  fix: "+missingFilesFix)
	}
	return lines
}

// quoteArgv shows argv the way a shell user could paste it. It is for
// display only: the Server never runs a shell.
func quoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~!") {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
