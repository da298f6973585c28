package attest

import (
	"strings"
	"testing"
)

// TestGitignore checks which paths a .gitignore keeps, for the subset of
// git's semantics SpecTree implements. Each case was also checked against
// git 2.39.5 by TestSpecTreeAgainstGit's generator.
func TestGitignore(t *testing.T) {
	paths := []string{"a.log", "keep.log", "build/out", "sub/build/out", "sub/a.log", "doc/x.md", "doc/sub/y.md",
		"x/y/z/deep.txt", "tmp", "t1", "t22", "foo bar", "#hash", "!bang", "[br]"}
	tests := []struct {
		name   string
		ignore string
		kept   []string
	}{
		{"none", "", paths},
		{"comment and blank", "# a.log\n\n", paths},
		{"basename glob", "*.log\n", without(paths, "a.log", "keep.log", "sub/a.log")},
		{"negation", "*.log\n!keep.log\n", without(paths, "a.log", "sub/a.log")},
		{"negation order matters", "!keep.log\n*.log\n", without(paths, "a.log", "keep.log", "sub/a.log")},
		{"anchored", "/a.log\n", without(paths, "a.log")},
		{"directory only", "build/\ntmp/\n", without(paths, "build/out", "sub/build/out")},
		{"inner slash anchors", "sub/build\n", without(paths, "sub/build/out")},
		{"leading double star", "**/out\n", without(paths, "build/out", "sub/build/out")},
		{"inner double star", "doc/**/*.md\n", without(paths, "doc/x.md", "doc/sub/y.md")},
		{"trailing double star", "x/**\n", without(paths, "x/y/z/deep.txt")},
		{"star does not cross slash", "doc/*.md\n", without(paths, "doc/x.md")},
		{"question mark", "t?\n", without(paths, "t1")},
		{"class range", "t[0-9][0-9]\n", without(paths, "t22")},
		{"negated class", "t[!0-9]*\n", without(paths, "tmp")},
		{"posix class", "t[[:digit:]]\n", without(paths, "t1")},
		{"escaped hash and bang", "\\#hash\n\\!bang\n", without(paths, "#hash", "!bang")},
		{"escaped bracket", "\\[br]\n", without(paths, "[br]")},
		{"escaped trailing space", "foo\\ \n", paths},
		{"trailing spaces trimmed", "tmp   \n", without(paths, "tmp")},
		{"space in name", "foo bar\n", without(paths, "foo bar")},
		{"CRLF", "tmp\r\nt1\r\n", without(paths, "tmp", "t1")},
		{"BOM", "\xef\xbb\xbftmp\n", without(paths, "tmp")},
		{"no re-include below an ignored directory", "doc/\n!doc/x.md\n", without(paths, "doc/x.md", "doc/sub/y.md")},
		{"re-include below a double star", "doc/**\n!doc/x.md\n", without(paths, "doc/sub/y.md")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ign := parseGitignore("", []byte(tt.ignore))
			var kept []string
			for _, p := range paths {
				if !pathIgnored([]ignoreFile{ign}, p) {
					kept = append(kept, p)
				}
			}
			if strings.Join(kept, "|") != strings.Join(tt.kept, "|") {
				t.Errorf("kept %q\nwant %q", kept, tt.kept)
			}
		})
	}
}

// pathIgnored applies gitIgnored to p and each directory above it, as the
// walk does.
func pathIgnored(files []ignoreFile, p string) bool {
	parts := strings.Split(p, "/")
	for i := range parts {
		if gitIgnored(files, strings.Join(parts[:i+1], "/"), i < len(parts)-1) {
			return true
		}
	}
	return false
}

func without(all []string, drop ...string) []string {
	var out []string
	for _, p := range all {
		if !strings.Contains("\x00"+strings.Join(drop, "\x00")+"\x00", "\x00"+p+"\x00") {
			out = append(out, p)
		}
	}
	return out
}

func TestWildMatch(t *testing.T) {
	// A selection of git's t3070-wildmatch cases (pathname mode).
	tests := []struct {
		pattern, text string
		want          bool
	}{
		{"foo", "foo", true},
		{"bar", "foo", false},
		{"", "", true},
		{"???", "foo", true},
		{"??", "foo", false},
		{"*", "foo", true},
		{"f*", "foo", true},
		{"*f", "foo", false},
		{"*foo*", "foo", true},
		{"*ob*a*r*", "foobar", true},
		{"*ab", "aaaaaaabababab", true},
		{"foo\\*", "foo*", true},
		{"foo\\*bar", "foobar", false},
		{"f\\\\oo", "f\\oo", true},
		{"*[al]?", "ball", true},
		{"[ten]", "ten", false},
		{"**[!te]", "ten", true},
		{"**[!ten]", "ten", false},
		{"t[a-g]n", "ten", true},
		{"t[!a-g]n", "ten", false},
		{"t[!a-g]n", "ton", true},
		{"t[^a-g]n", "ton", true},
		{"a[]]b", "a]b", true},
		{"a[]-]b", "a-b", true},
		{"a[]-]b", "a]b", true},
		{"a[]-]b", "aab", false},
		{"a[]a-]b", "aab", true},
		{"]", "]", true},
		{"foo*bar", "foo/baz/bar", false},
		{"foo**bar", "foo/baz/bar", false},
		{"foo**bar", "foobazbar", true},
		{"foo/**/bar", "foo/baz/bar", true},
		{"foo/**/**/bar", "foo/baz/bar", true},
		{"foo/**/bar", "foo/b/a/z/bar", true},
		{"foo/**/bar", "foo/bar", true},
		{"foo/**/**/bar", "foo/bar", true},
		{"foo?bar", "foo/bar", false},
		{"foo[/]bar", "foo/bar", false},
		{"foo[^a-z]bar", "foo/bar", false},
		{"f[^eiu][^eiu][^eiu][^eiu][^eiu]r", "f/oo/bar", false},
		{"f[^eiu][^eiu][^eiu][^eiu][^eiu]r", "foo-bar", true},
		{"**/foo", "foo", true},
		{"**/foo", "XXX/foo", true},
		{"**/foo", "bar/baz/foo", true},
		{"*/foo", "bar/baz/foo", false},
		{"**/bar*", "foo/bar/baz", false},
		{"**/bar/*", "deep/foo/bar/baz", true},
		{"**/bar/*", "deep/foo/bar/baz/", false},
		{"**/bar/**", "deep/foo/bar/baz/", true},
		{"**/bar/*", "deep/foo/bar", false},
		{"**/bar/**", "deep/foo/bar/", true},
		{"**/bar**", "foo/bar/baz", false},
		{"*/bar/**", "foo/bar/baz/x", true},
		{"*/bar/**", "deep/foo/bar/baz/x", false},
		{"**/bar/*/*", "deep/foo/bar/baz/x", true},
		{"a[c-c]st", "acrt", false},
		{"a[c-c]rt", "acrt", true},
		{"[!]-]", "]", false},
		{"[!]-]", "a", true},
		{"\\", "", false},
		{"\\", "\\", false},
		{"*/\\", "XXX/\\", false},
		{"*/\\\\", "XXX/\\", true},
		{"foo", "foo", true},
		{"@foo", "@foo", true},
		{"@foo", "foo", false},
		{"\\[ab]", "[ab]", true},
		{"[[]ab]", "[ab]", true},
		{"[[:]ab]", "[ab]", true},
		{"[[::]ab]", "[ab]", false},
		{"[[:digit]ab]", "[ab]", true},
		{"[\\[:]ab]", "[ab]", true},
		{"\\??\\?b", "?a?b", true},
		{"\\a\\b\\c", "abc", true},
		{"**/t[o]", "foo/bar/baz/to", true},
		{"[[:alpha:]][[:digit:]][[:upper:]]", "a1B", true},
		{"[[:digit:][:upper:][:space:]]", "a", false},
		{"[[:digit:][:upper:][:space:]]", "A", true},
		{"[[:digit:][:upper:][:space:]]", "1", true},
		{"[[:digit:][:upper:][:spaci:]]", "1", false},
		{"[[:digit:][:upper:][:space:]]", " ", true},
		{"[[:digit:][:upper:][:space:]]", ".", false},
		{"[[:digit:][:punct:][:space:]]", ".", true},
		{"[[:xdigit:]]", "5", true},
		{"[[:xdigit:]]", "f", true},
		{"[[:xdigit:]]", "D", true},
		{"[a-c[:digit:]x-z]", "5", true},
		{"[a-c[:digit:]x-z]", "b", true},
		{"[a-c[:digit:]x-z]", "y", true},
		{"[a-c[:digit:]x-z]", "q", false},
		{"-*-*-*-*-*-*-12-*-*-*-m-*-*-*", "-adobe-courier-bold-o-normal--12-120-75-75-m-70-iso8859-1", true},
		{"-*-*-*-*-*-*-12-*-*-*-m-*-*-*", "-adobe-courier-bold-o-normal--12-120-75-75-X-70-iso8859-1", false},
		{"XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*", "XXX/adobe/courier/bold/o/normal//12/120/75/75/m/70/iso8859/1", true},
		{"XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*", "XXX/adobe/courier/bold/o/normal//12/120/75/75/X/70/iso8859/1", false},
		{"**/*a*b*g*n*t", "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txt", true},
		{"**/*a*b*g*n*t", "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txtz", false},
		{"*/*/*", "foo", false},
		{"*/*/*", "foo/bar", false},
		{"*/*/*", "foo/bba/arr", true},
		{"*/*/*", "foo/bb/aa/rr", false},
		{"**/**/**", "foo/bb/aa/rr", true},
		{"*X*i", "abcXdefXghi", true},
		{"*X*i", "ab/cXd/efXg/hi", false},
		{"*/*X*/*/*i", "ab/cXd/efXg/hi", true},
		{"**/*X*/**/*i", "ab/cXd/efXg/hi", true},
	}
	for _, tt := range tests {
		if got := wildMatch(tt.pattern, tt.text); got != tt.want {
			t.Errorf("wildMatch(%q, %q) = %v, want %v", tt.pattern, tt.text, got, tt.want)
		}
	}
}
