package model

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// Lengths of the model string's parts.
const (
	// CommitLen is a Hugging Face commit: a git SHA-1 in hex.
	CommitLen = 40
	// VerityHashLen is a dm-verity SHA-256 root hash in hex.
	VerityHashLen = 64
	// MaxNamePartLen bounds the namespace and the repository name, as
	// Hugging Face does.
	MaxNamePartLen = 96
)

// Spec is a complete model string name@commit:verity_hash.
type Spec struct {
	// Name is the Hugging Face repository id, e.g. Qwen/Qwen3-8B.
	Name string
	// Commit is the repository commit, 40 lower-case hex digits.
	Commit string
	// VerityHash is the dm-verity root hash of the model tar, 64
	// lower-case hex digits.
	VerityHash string
}

const specForm = "write it as name@commit:verity_hash, e.g. Qwen/Qwen3-8B@<40 hex digits>:<64 hex digits>, as build-model prints it"

// Parse reads a complete model string. The rules:
//   - exactly one '@' and, after it, exactly one ':';
//   - the name is a Hugging Face repository id: an optional namespace and
//     '/', then the repository name; each part 1–96 of A–Z a–z 0–9 '_' '-'
//     '.', starting and ending with a letter, digit or '_', with no "--"
//     or ".." anywhere and no ".git" at the end (huggingface_hub's rules);
//     so no path can climb out of a folder;
//   - the commit is 40 lower-case hex digits (a full git SHA-1);
//   - the verity hash is 64 lower-case hex digits.
//
// Upper-case hex is refused rather than folded: the model hash is over
// the exact bytes, and the worker reports the lower-case form.
func Parse(s string) (Spec, error) {
	m, err := parse(s)
	if err != nil {
		return Spec{}, newError(ErrSpec, nil, err.Error())
	}
	return m, nil
}

func parse(s string) (Spec, error) {
	if strings.TrimSpace(s) != s {
		return Spec{}, fmt.Errorf("model %q has spaces around it: %s", s, specForm)
	}
	name, rest, ok := strings.Cut(s, "@")
	if !ok {
		return Spec{}, fmt.Errorf("model %q has no commit: %s", s, specForm)
	}
	commit, verity, ok := strings.Cut(rest, ":")
	if !ok {
		return Spec{}, fmt.Errorf("model %q has no verity hash: %s", s, specForm)
	}
	if strings.ContainsAny(verity, "@:") || strings.Contains(commit, "@") {
		return Spec{}, fmt.Errorf("model %q has more than one '@' or ':': %s", s, specForm)
	}
	if err := checkName(name); err != nil {
		return Spec{}, fmt.Errorf("model %q: %w", s, err)
	}
	if err := checkHex(commit, CommitLen, "commit"); err != nil {
		return Spec{}, fmt.Errorf("model %q: %w", s, err)
	}
	if err := checkHex(verity, VerityHashLen, "verity hash"); err != nil {
		return Spec{}, fmt.Errorf("model %q: %w", s, err)
	}
	return Spec{Name: name, Commit: commit, VerityHash: verity}, nil
}

// namePartRE is one part of a repository id.
var namePartRE = regexp.MustCompile(`^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$`)

func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("the name is empty: %s", specForm)
	}
	parts := strings.Split(name, "/")
	if len(parts) > 2 {
		return fmt.Errorf("the name %q has more than one '/': a Hugging Face repository id is namespace/name", name)
	}
	for _, p := range parts {
		if len(p) > MaxNamePartLen || !namePartRE.MatchString(p) {
			return fmt.Errorf("the name %q is not a Hugging Face repository id: use letters, digits, '_', '-' and '.', "+
				"starting and ending with a letter, digit or '_', at most %d characters on each side of the '/'", name, MaxNamePartLen)
		}
	}
	if strings.Contains(name, "--") || strings.Contains(name, "..") || strings.HasSuffix(name, ".git") {
		return fmt.Errorf("the name %q contains \"--\" or \"..\" or ends in \".git\", which a Hugging Face repository id cannot", name)
	}
	return nil
}

func checkHex(s string, n int, what string) error {
	if len(s) != n {
		return fmt.Errorf("the %s %q is %d characters, not %d lower-case hex digits: give the full %s", what, s, len(s), n, what)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			return fmt.Errorf("the %s %q has upper-case hex: write it in lower case, as the worker reports it (the model hash is over the exact text)", what, s)
		default:
			return fmt.Errorf("the %s %q is not hex: it must be %d lower-case hex digits", what, s, n)
		}
	}
	return nil
}

// String is the model string, name@commit:verity_hash.
func (s Spec) String() string { return s.Name + "@" + s.Commit + ":" + s.VerityHash }

// Hash is the model hash: SHA-256 of String(), the key of the root
// contract's allowed-model set (§8.6; /jsonstats model_hashes, §6.5).
func (s Spec) Hash() wallet.Hash { return wallet.ModelHash(s.String()) }

// PathName is build-model's MODEL_PATH: the name with every character
// other than A–Z a–z 0–9 replaced by '_' (§2.8). Two names can share one
// (Qwen/Qwen3-8B and Qwen/Qwen3_8B), so it names files, never folders.
func (s Spec) PathName() string { return pathNameRE.ReplaceAllString(s.Name, "_") }

var pathNameRE = regexp.MustCompile(`[^A-Za-z0-9]`)

// DirName is the model's folder in a Store: the name with '/' as "--"
// (which a repository id cannot contain, so no two names meet), '@', the
// commit.
func (s Spec) DirName() string { return strings.ReplaceAll(s.Name, "/", "--") + "@" + s.Commit }

// CheckAllowed refuses a model whose hash is not among allowed (the root
// contract's model hashes, wallet.RootConfig.ModelHashes).
func CheckAllowed(s Spec, allowed []wallet.Hash) error {
	h := s.Hash()
	if len(allowed) == 0 {
		return newError(ErrAllowListUnknown, nil, fmt.Sprintf("no allowed model hashes were given, so model %s (hash %s) cannot be checked: "+
			"give the root contract's model hashes (its /jsonstats model_hashes, or the root config), or skip the check for development only", s, h))
	}
	for _, a := range allowed {
		if a == h {
			return nil
		}
	}
	return newError(ErrNotAllowed, nil, fmt.Sprintf("model %s has hash %s, which the root contract does not allow (%d allowed): "+
		"a worker serving it is refused by the network; choose an allowed model, and check the commit and verity hash are exactly those published", s, h, len(allowed)))
}
