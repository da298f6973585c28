package attest

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gitForSpec returns a function that computes a directory's spec tree with
// the real git the way cocoon-prepare-spec does (a SHA-256 repository,
// `git add -A`, the excluded entries removed from the index,
// `git write-tree`). It skips the test when git is missing or older than
// 2.29 (no SHA-256 object format).
func gitForSpec(t *testing.T) func(dir string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs git; skipped in -short mode")
	}
	bin, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed: cannot compare SpecTree with git write-tree")
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Skipf("git version: %v", err)
	}
	m := regexp.MustCompile(`git version (\d+)\.(\d+)`).FindSubmatch(out)
	if m == nil {
		t.Skipf("cannot read %q", out)
	}
	major, _ := strconv.Atoi(string(m[1]))
	minor, _ := strconv.Atoi(string(m[2]))
	if major < 2 || (major == 2 && minor < 29) {
		t.Skipf("%s has no SHA-256 object format (needs git 2.29 or newer)", strings.TrimSpace(string(out)))
	}
	home := t.TempDir()
	n := 0
	return func(dir string) string {
		t.Helper()
		n++
		gitDir := filepath.Join(home, fmt.Sprintf("repo%d.git", n))
		env := append(os.Environ(),
			"GIT_DIR="+gitDir, "GIT_WORK_TREE="+dir, "HOME="+home, "XDG_CONFIG_HOME="+home,
			"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
		run := func(args ...string) string {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Dir, cmd.Env = dir, env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return strings.TrimSpace(string(out))
		}
		run("init", "-q", "--object-format=sha256")
		if f := run("rev-parse", "--show-object-format"); f != "sha256" {
			t.Skipf("git made a %s repository, not sha256", f)
		}
		run("add", "-A")
		run("rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", "runtime", "spec.tree", "spec.meta", ":(glob)**/.gitignore")
		return run("write-tree")
	}
}

func TestSpecTreeAgainstGit(t *testing.T) {
	gitTree := gitForSpec(t)
	if got := gitTree(t.TempDir()); got != emptyTreeHex {
		t.Fatalf("git's empty tree is %s, want %s", got, emptyTreeHex)
	}
	rng := splitmix(1)
	for i := range 60 {
		dir := t.TempDir()
		desc := genSpecDir(t, dir, &rng)
		want := gitTree(dir)
		got, err := SpecTree(os.DirFS(dir))
		if err != nil {
			t.Fatalf("tree %d: SpecTree: %v\n%s", i, err, desc)
		}
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("tree %d: SpecTree = %x, git write-tree = %s\n%s", i, got, want, desc)
		}
	}
}

// splitmix is a small deterministic generator for the test trees.
type splitmix uint64

func (s *splitmix) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (s *splitmix) intn(n int) int { return int(s.next() % uint64(n)) }

func pick[T any](s *splitmix, from []T) T { return from[s.intn(len(from))] }

var (
	genNames = []string{"a", "b.log", "keep.log", "build", "doc", "x y", "t1", "t22", "tmp", "[br]", "#h", "!b",
		"deep", "out", "f.md", "keep", "c.json", "runtime", "spec.tree", "spec.meta", "ab", "B"}
	genPatterns = []string{"*.log", "!keep.log", "/a", "build/", "doc/**", "!doc/keep", "**/out", "t?",
		"t[0-9][0-9]", "t[!0-9]*", "[[:digit:]]*", "[[:upper:]]", "\\#h", "\\!b", "\\[br]", "x\\ y", "x y", "deep/**/f.md",
		"*/out", "out/", "# comment", "", "tmp   ", "tmp\r", "a/b", "/build", "!build", "!*/", "runtime",
		"*", "!*.md", "doc/", "**/deep/**", "/*.json", "f.md/", "?", "[ab]", "a*", "!a", "deep/out", "*.j[a-z]on"}
)

// genSpecDir writes a random spec directory under dir and describes it.
func genSpecDir(t *testing.T, dir string, rng *splitmix) string {
	t.Helper()
	var desc strings.Builder
	var fill func(rel string, depth int)
	fill = func(rel string, depth int) {
		abs := filepath.Join(dir, rel)
		if err := os.MkdirAll(abs, 0o755); err != nil {
			t.Fatal(err)
		}
		if rng.intn(3) == 0 {
			var lines []string
			for range 1 + rng.intn(5) {
				lines = append(lines, pick(rng, genPatterns))
			}
			content := strings.Join(lines, "\n")
			if rng.intn(2) == 0 {
				content += "\n"
			}
			writeGenFile(t, filepath.Join(abs, ".gitignore"), content, 0o644)
			fmt.Fprintf(&desc, "%s/.gitignore: %q\n", rel, content)
		}
		for range 1 + rng.intn(5) {
			name := pick(rng, genNames)
			p := filepath.Join(abs, name)
			if _, err := os.Stat(p); err == nil {
				continue
			}
			if depth < 3 && rng.intn(3) == 0 {
				fill(filepath.Join(rel, name), depth+1)
				continue
			}
			mode := os.FileMode(0o644)
			if rng.intn(4) == 0 {
				mode = 0o755
			}
			content := strings.Repeat(name, rng.intn(4))
			writeGenFile(t, p, content, mode)
			fmt.Fprintf(&desc, "%s %o %q\n", filepath.Join(rel, name), mode, content)
		}
		if rng.intn(6) == 0 {
			if err := os.MkdirAll(filepath.Join(abs, "emptydir"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	fill(".", 0)
	return desc.String()
}

func writeGenFile(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

// TestSpecTreeAgainstGitCases compares SpecTree with git on trees aimed at
// single rules: CRLF lines, precedence between nested .gitignore files, and
// which permission bit makes a file executable.
func TestSpecTreeAgainstGitCases(t *testing.T) {
	gitTree := gitForSpec(t)
	type file struct {
		path, content string
		mode          os.FileMode
	}
	tests := []struct {
		name  string
		files []file
	}{
		{"CRLF .gitignore", []file{
			{".gitignore", "tmp\r\n*.log\r\n", 0o644}, {"tmp", "x", 0o644}, {"a.log", "y", 0o644}, {"keep", "z", 0o644}}},
		{"deeper .gitignore re-includes", []file{
			{".gitignore", "*.log\n", 0o644}, {"sub/.gitignore", "!keep.log\n", 0o644},
			{"sub/keep.log", "k", 0o644}, {"sub/a.log", "a", 0o644}, {"keep.log", "top", 0o644}}},
		{"deeper .gitignore ignores", []file{
			{".gitignore", "!x\n", 0o644}, {"sub/.gitignore", "x\n", 0o644}, {"sub/x", "1", 0o644}, {"x", "2", 0o644}}},
		{"anchored in a subdirectory", []file{
			{"sub/.gitignore", "/a\nb/c\n", 0o644}, {"sub/a", "1", 0o644}, {"sub/d/a", "2", 0o644},
			{"sub/b/c", "3", 0o644}, {"b/c", "4", 0o644}, {"a", "5", 0o644}}},
		{"permission bits", []file{
			{"u", "1", 0o744}, {"g", "2", 0o654}, {"o", "3", 0o645}, {"ro", "4", 0o444}, {"ux", "5", 0o500}}},
		{"escaped and trailing spaces", []file{
			{".gitignore", "a\\ \nb  \n", 0o644}, {"a ", "1", 0o644}, {"a", "2", 0o644}, {"b", "3", 0o644}, {"b  ", "4", 0o644}}},
		{"no trailing newline, BOM", []file{
			{".gitignore", "\xef\xbb\xbftmp\n*.md", 0o644}, {"tmp", "1", 0o644}, {"x.md", "2", 0o644}, {"y", "3", 0o644}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				p := filepath.Join(dir, filepath.FromSlash(f.path))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				writeGenFile(t, p, f.content, f.mode)
			}
			want := gitTree(dir)
			got, err := SpecTree(os.DirFS(dir))
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got[:]) != want {
				t.Errorf("SpecTree = %x, git write-tree = %s", got, want)
			}
		})
	}
}
