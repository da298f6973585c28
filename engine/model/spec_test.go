package model

import (
	"errors"
	"strings"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/wallet"
)

const (
	exCommit = "b968826d9c46dd6066d109eabc6255188de91218"
	exVerity = "7e9d33bebf5518e0dc666e5a04ffbab247ff5878f91a9a55a6e942fe245a8ee9"
	exModel  = "Qwen/Qwen3-8B@" + exCommit + ":" + exVerity
)

func TestParse(t *testing.T) {
	good := []string{
		exModel,
		"gpt2@" + exCommit + ":" + exVerity,
		"my_org/model.v1-2@" + exCommit + ":" + exVerity,
		"_a/_b_@" + exCommit + ":" + exVerity,
	}
	for _, s := range good {
		sp, err := Parse(s)
		if err != nil || sp.String() != s {
			t.Errorf("Parse(%q) = %+v, %v", s, sp, err)
		}
	}
	bad := map[string]string{
		"empty":                "",
		"name only":            "Qwen/Qwen3-8B",
		"no verity":            "Qwen/Qwen3-8B@" + exCommit,
		"empty verity":         "Qwen/Qwen3-8B@" + exCommit + ":",
		"empty commit":         "Qwen/Qwen3-8B@:" + exVerity,
		"empty name":           "@" + exCommit + ":" + exVerity,
		"short commit":         "Qwen/Qwen3-8B@b968826:" + exVerity,
		"long commit":          "Qwen/Qwen3-8B@" + exCommit + "0:" + exVerity,
		"uppercase commit":     "Qwen/Qwen3-8B@" + strings.ToUpper(exCommit) + ":" + exVerity,
		"uppercase verity":     "Qwen/Qwen3-8B@" + exCommit + ":" + strings.ToUpper(exVerity),
		"short verity":         "Qwen/Qwen3-8B@" + exCommit + ":" + exVerity[:63],
		"non-hex verity":       "Qwen/Qwen3-8B@" + exCommit + ":" + exVerity[:63] + "g",
		"extra colon":          "Qwen/Qwen3-8B@" + exCommit + ":" + exVerity + ":",
		"extra colons":         "Qwen/Qwen3-8B@" + exCommit + ":" + exVerity + ":" + exVerity,
		"colon in name":        "Qwen:x/Qwen3-8B@" + exCommit + ":" + exVerity,
		"two ats":              "Qwen/Qwen3-8B@" + exCommit + "@" + exCommit + ":" + exVerity,
		"at in verity":         "Qwen/Qwen3-8B@" + exCommit + ":@" + exVerity,
		"dotdot":               "../../etc@" + exCommit + ":" + exVerity,
		"dotdot inner":         "Qwen/..@" + exCommit + ":" + exVerity,
		"dotdot part":          "a..b@" + exCommit + ":" + exVerity,
		"absolute":             "/etc/passwd@" + exCommit + ":" + exVerity,
		"two slashes":          "a/b/c@" + exCommit + ":" + exVerity,
		"trailing slash":       "Qwen/@" + exCommit + ":" + exVerity,
		"backslash":            `Qwen\..\x@` + exCommit + ":" + exVerity,
		"double dash":          "Qwen--x/y@" + exCommit + ":" + exVerity,
		"leading dash":         "-Qwen/y@" + exCommit + ":" + exVerity,
		"trailing dot":         "Qwen/y.@" + exCommit + ":" + exVerity,
		"dot git":              "Qwen/y.git@" + exCommit + ":" + exVerity,
		"space":                "Qwen/Qwen3 8B@" + exCommit + ":" + exVerity,
		"surrounding space":    " " + exModel,
		"newline":              exModel + "\n",
		"nul":                  "Qwen/Qwen3\x00@" + exCommit + ":" + exVerity,
		"unicode":              "Qwén/x@" + exCommit + ":" + exVerity,
		"too long":             strings.Repeat("a", 97) + "@" + exCommit + ":" + exVerity,
		"verity before commit": "Qwen/Qwen3-8B:" + exVerity + "@" + exCommit,
	}
	for name, s := range bad {
		if sp, err := Parse(s); err == nil || !errors.Is(err, ErrSpec) {
			t.Errorf("%s: Parse(%q) = %+v, %v; want ErrSpec", name, s, sp, err)
		} else if !strings.Contains(err.Error(), "model") {
			t.Errorf("%s: message %q", name, err)
		}
	}
}

// The spec's /jsonstats example (§6.5) lists the SHA-256 of its model
// string; it must be this package's model hash.
func TestModelHashSpecExample(t *testing.T) {
	sp, err := Parse(exModel)
	if err != nil {
		t.Fatal(err)
	}
	if got := sp.Hash().String(); got != "4E8D0D15A82615D4FA5AFF8BB7A114152C7C17A517A809D7A7670C149079D2D3" {
		t.Errorf("hash = %s", got)
	}
	if sp.PathName() != "Qwen_Qwen3_8B" || sp.DirName() != "Qwen--Qwen3-8B@"+exCommit {
		t.Errorf("path %s dir %s", sp.PathName(), sp.DirName())
	}
	rc := wallet.RootConfig{ModelHashes: []wallet.Hash{sp.Hash()}}
	if err := CheckAllowed(sp, rc.ModelHashes); err != nil || !rc.AllowsModel(sp.String()) {
		t.Errorf("allowed: %v", err)
	}
	other := sp
	other.Commit = strings.Repeat("0", 40)
	if err := CheckAllowed(other, rc.ModelHashes); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("other commit: %v", err)
	}
	if err := CheckAllowed(sp, nil); !errors.Is(err, ErrAllowListUnknown) {
		t.Errorf("no list: %v", err)
	}
}
