package update

import (
	"cmp"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Version is an app version: a semantic version (1.2.3, v1.3.0-rc.1), a
// build from source after a release tag as `git describe --tags --dirty`
// names it (v0.2.0-14-gabc1234-dirty), or a development build that has no
// release number (dev, or a bare commit hash).
type Version struct {
	Major, Minor, Patch uint64
	// Pre holds the prerelease identifiers (rc.1 → ["rc", "1"]).
	Pre []string
	// Ahead is the number of commits after the release tag.
	Ahead int
	// Dirty: built from a tree with uncommitted changes.
	Dirty bool
	// Dev: a development build; no release number is known.
	Dev bool
}

var (
	describeRE = regexp.MustCompile(`^(.+)-([0-9]+)-g[0-9a-f]{4,40}$`)
	commitRE   = regexp.MustCompile(`^g?[0-9a-f]{7,40}$`)
)

// ParseVersion reads a version. "", "dev", "(devel)", "unknown" and a bare
// commit hash are development builds. Build metadata (+…) is ignored.
func ParseVersion(s string) (Version, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "dev", "devel", "(devel)", "unknown":
		return Version{Dev: true}, nil
	}
	rest, _, _ := strings.Cut(s, "+")
	var v Version
	if r, ok := strings.CutSuffix(rest, "-dirty"); ok {
		rest, v.Dirty = r, true
	}
	if commitRE.MatchString(rest) {
		return Version{Dev: true, Dirty: v.Dirty}, nil
	}
	if m := describeRE.FindStringSubmatch(rest); m != nil {
		n, err := strconv.Atoi(m[2])
		if err != nil {
			return Version{}, fmt.Errorf("version %q: commits after the tag: %v", s, err)
		}
		rest, v.Ahead = m[1], n
	}
	rest = strings.TrimPrefix(rest, "v")
	core, pre, hasPre := strings.Cut(rest, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("version %q: want MAJOR.MINOR.PATCH, e.g. 1.2.3", s)
	}
	nums := [3]*uint64{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		n, err := parseNumeric(p)
		if err != nil {
			return Version{}, fmt.Errorf("version %q: %v", s, err)
		}
		*nums[i] = n
	}
	if hasPre {
		v.Pre = strings.Split(pre, ".")
		for _, id := range v.Pre {
			if id == "" || strings.Trim(id, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-") != "" {
				return Version{}, fmt.Errorf("version %q: prerelease %q is not dot-separated [0-9A-Za-z-] identifiers", s, pre)
			}
			if isNumeric(id) {
				if _, err := parseNumeric(id); err != nil {
					return Version{}, fmt.Errorf("version %q: prerelease: %v", s, err)
				}
			}
		}
	}
	return v, nil
}

func isNumeric(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

func parseNumeric(s string) (uint64, error) {
	if !isNumeric(s) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("%q has a leading zero", s)
	}
	return strconv.ParseUint(s, 10, 64)
}

// Release reports whether v is a tagged release build (a prerelease
// counts), not a build from source or a development build.
func (v Version) Release() bool { return !v.Dev && v.Ahead == 0 && !v.Dirty }

// String is the canonical form: 1.2.3, 1.3.0-rc.1, 0.2.0-14-dirty, dev.
func (v Version) String() string {
	if v.Dev {
		return "dev"
	}
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if len(v.Pre) > 0 {
		s += "-" + strings.Join(v.Pre, ".")
	}
	if v.Ahead > 0 {
		s += fmt.Sprintf("-%d", v.Ahead)
	}
	if v.Dirty {
		s += "-dirty"
	}
	return s
}

// Compare orders versions: -1 when v is older than w, 0 when they are the
// same, +1 when v is newer. Releases follow semantic versioning
// precedence. A build from source sorts after its tag and before the next
// release (v0.2.0 < v0.2.0-14-gabc1234 < v0.2.0-14-gabc1234-dirty <
// 0.2.1). A development build sorts after every release, so it is never
// offered an older release as an update.
func (v Version) Compare(w Version) int {
	if v.Dev || w.Dev {
		switch {
		case v.Dev && w.Dev:
			return 0
		case v.Dev:
			return 1
		}
		return -1
	}
	if c := cmp.Compare(v.Major, w.Major); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Minor, w.Minor); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Patch, w.Patch); c != 0 {
		return c
	}
	if c := comparePre(v.Pre, w.Pre); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Ahead, w.Ahead); c != 0 {
		return c
	}
	switch {
	case v.Dirty == w.Dirty:
		return 0
	case v.Dirty:
		return 1
	}
	return -1
}

// comparePre is semantic versioning's prerelease precedence: none sorts
// after any; identifiers compare numerically when both are numbers,
// numbers before words, and a shorter list first when one is a prefix.
func comparePre(a, b []string) int {
	switch {
	case len(a) == 0 && len(b) == 0:
		return 0
	case len(a) == 0:
		return 1
	case len(b) == 0:
		return -1
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		an, bn := isNumeric(a[i]), isNumeric(b[i])
		switch {
		case an && bn:
			x, _ := strconv.ParseUint(a[i], 10, 64)
			y, _ := strconv.ParseUint(b[i], 10, 64)
			if c := cmp.Compare(x, y); c != 0 {
				return c
			}
		case an:
			return -1
		case bn:
			return 1
		default:
			if c := strings.Compare(a[i], b[i]); c != 0 {
				return c
			}
		}
	}
	return cmp.Compare(len(a), len(b))
}

// CompareVersions parses and compares two versions (see Version.Compare).
func CompareVersions(a, b string) (int, error) {
	va, err := ParseVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := ParseVersion(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}
