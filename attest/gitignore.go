package attest

import (
	"bytes"
	"path"
	"strings"
)

// This file is the .gitignore matcher SpecTree uses: git's parsing of
// .gitignore lines, its precedence rules, and a port of wildmatch.c.

// ignorePattern is one pattern line of a .gitignore file.
type ignorePattern struct {
	pattern  string // without the leading !, the trailing / and a leading /
	negate   bool   // a leading !: re-include what matches
	dirOnly  bool   // a trailing /: match directories only
	basename bool   // no / in the pattern: match the last path element at any depth
}

// ignoreFile is a parsed .gitignore file.
type ignoreFile struct {
	base     string // its directory relative to the spec root; "" for the root
	patterns []ignorePattern
}

// parseGitignore parses a .gitignore file found in directory base, as git's
// add_patterns_from_buffer and parse_path_pattern do.
func parseGitignore(base string, data []byte) ignoreFile {
	f := ignoreFile{base: base}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		line = trimGitignoreSpaces(line)
		var p ignorePattern
		if strings.HasPrefix(line, "!") {
			p.negate, line = true, line[1:]
		}
		if strings.HasSuffix(line, "/") {
			p.dirOnly, line = true, line[:len(line)-1]
		}
		if line == "" {
			continue
		}
		p.basename = !strings.Contains(line, "/")
		if !p.basename {
			line = strings.TrimPrefix(line, "/")
		}
		p.pattern = line
		f.patterns = append(f.patterns, p)
	}
	return f
}

// trimGitignoreSpaces drops trailing spaces that are not escaped with a
// backslash (git's trim_trailing_spaces; tabs are kept).
func trimGitignoreSpaces(s string) string {
	lastSpace := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ':
			if lastSpace < 0 {
				lastSpace = i
			}
		case '\\':
			i++
			if i >= len(s) {
				return s
			}
			lastSpace = -1
		default:
			lastSpace = -1
		}
	}
	if lastSpace >= 0 {
		return s[:lastSpace]
	}
	return s
}

// gitIgnored reports whether the path p (relative to the spec root) is
// ignored: the deepest .gitignore with a matching pattern decides, and
// within a file the last matching pattern.
func gitIgnored(files []ignoreFile, p string, isDir bool) bool {
	for i := len(files) - 1; i >= 0; i-- {
		if ignored, matched := files[i].match(p, isDir); matched {
			return ignored
		}
	}
	return false
}

// match reports whether a pattern of f matches p and, if so, whether the
// last matching one ignores it (rather than re-including it).
func (f ignoreFile) match(p string, isDir bool) (ignored, matched bool) {
	rel := p
	if f.base != "" {
		var ok bool
		if rel, ok = strings.CutPrefix(p, f.base+"/"); !ok {
			return false, false
		}
	}
	name := path.Base(p)
	for i := len(f.patterns) - 1; i >= 0; i-- {
		pat := f.patterns[i]
		if pat.dirOnly && !isDir {
			continue
		}
		subject := rel
		if pat.basename {
			subject = name
		}
		if wildMatch(pat.pattern, subject) {
			return !pat.negate, true
		}
	}
	return false, false
}

// Results of wildMatchAt, as in git's wildmatch.c.
const (
	wmMatch = iota
	wmNoMatch
	wmAbortAll        // no later text position can match either
	wmAbortToStarStar // only an enclosing ** may still match
)

// wildMatch reports whether text matches the glob pattern under git's
// wildmatch rules with WM_PATHNAME: *, ? and [...] never match '/'; a **
// that is a whole path element (leading **/, inner /**/, trailing /**)
// matches across directories, any other ** is a *.
func wildMatch(pattern, text string) bool { return wildMatchAt(pattern, text) == wmMatch }

func wildMatchAt(p, text string) int {
	pi, ti := 0, 0
	for ; pi < len(p); pi, ti = pi+1, ti+1 {
		pc := p[pi]
		if ti >= len(text) && pc != '*' {
			return wmAbortAll
		}
		var tc byte
		if ti < len(text) {
			tc = text[ti]
		}
		switch pc {
		case '\\':
			pi++
			if pi >= len(p) || tc != p[pi] {
				return wmNoMatch
			}
		case '?':
			if tc == '/' {
				return wmNoMatch
			}
		case '*':
			pi++
			matchSlash := false
			if pi < len(p) && p[pi] == '*' {
				prev := pi - 2 // the byte before the first *
				for pi < len(p) && p[pi] == '*' {
					pi++
				}
				atStart := prev < 0 || p[prev] == '/'
				atEnd := pi == len(p) || p[pi] == '/' || (p[pi] == '\\' && pi+1 < len(p) && p[pi+1] == '/')
				if atStart && atEnd {
					// "**/" may match no directory at all.
					if pi < len(p) && p[pi] == '/' && wildMatchAt(p[pi+1:], text[ti:]) == wmMatch {
						return wmMatch
					}
					matchSlash = true
				}
			}
			if pi == len(p) {
				// A trailing ** matches everything, a trailing * only
				// within the last path element.
				if !matchSlash && strings.IndexByte(text[ti:], '/') >= 0 {
					return wmNoMatch
				}
				return wmMatch
			}
			if !matchSlash && p[pi] == '/' {
				// "*/" matches the rest of this path element.
				slash := strings.IndexByte(text[ti:], '/')
				if slash < 0 {
					return wmNoMatch
				}
				ti += slash
				continue // the loop step consumes the / of both
			}
			for ; ti < len(text); ti++ {
				m := wildMatchAt(p[pi:], text[ti:])
				if m != wmNoMatch {
					if !matchSlash || m != wmAbortToStarStar {
						return m
					}
				} else if !matchSlash && text[ti] == '/' {
					return wmAbortToStarStar
				}
			}
			return wmAbortAll
		case '[':
			next, ok := matchBracket(p, pi, tc)
			if next < 0 {
				return wmAbortAll
			}
			if !ok || tc == '/' {
				return wmNoMatch
			}
			pi = next
		default:
			if tc != pc {
				return wmNoMatch
			}
		}
	}
	if ti < len(text) {
		return wmNoMatch
	}
	return wmMatch
}

// matchBracket matches c against the bracket expression that starts at
// p[open] == '['. It returns the index of the closing ']' and whether c is
// in the set, or next < 0 for a malformed expression (which git treats as
// matching nothing from here on).
func matchBracket(p string, open int, c byte) (next int, ok bool) {
	i := open + 1
	if i >= len(p) {
		return -1, false
	}
	negated := p[i] == '!' || p[i] == '^'
	if negated {
		i++
	}
	matched := false
	var prev byte
	for first := true; ; first = false {
		if i >= len(p) {
			return -1, false
		}
		pc := p[i]
		if pc == ']' && !first {
			break
		}
		switch {
		case pc == '\\':
			i++
			if i >= len(p) {
				return -1, false
			}
			pc = p[i]
			if c == pc {
				matched = true
			}
		case pc == '-' && prev != 0 && i+1 < len(p) && p[i+1] != ']':
			i++
			hi := p[i]
			if hi == '\\' {
				i++
				if i >= len(p) {
					return -1, false
				}
				hi = p[i]
			}
			if c >= prev && c <= hi {
				matched = true
			}
			pc = 0 // a range cannot start another range
		case pc == '[' && i+1 < len(p) && p[i+1] == ':':
			end := strings.IndexByte(p[i+2:], ']')
			if end < 0 {
				return -1, false
			}
			end += i + 2
			if end-1 < i+2 || p[end-1] != ':' {
				// No ":]": an ordinary '['.
				if c == '[' {
					matched = true
				}
				break
			}
			in, known := charClass(p[i+2:end-1], c)
			if !known {
				return -1, false
			}
			if in {
				matched = true
			}
			i, pc = end, 0
		default:
			if c == pc {
				matched = true
			}
		}
		prev = pc
		i++
	}
	return i, matched != negated
}

// charClass reports whether c is in the POSIX class name, and whether the
// name is known.
func charClass(name string, c byte) (in, known bool) {
	isUpper := c >= 'A' && c <= 'Z'
	isLower := c >= 'a' && c <= 'z'
	isDigit := c >= '0' && c <= '9'
	isAlpha := isUpper || isLower
	isPrint := c >= 0x20 && c < 0x7f
	isSpace := c == ' ' || (c >= '\t' && c <= '\r')
	switch name {
	case "alnum":
		return isAlpha || isDigit, true
	case "alpha":
		return isAlpha, true
	case "blank":
		return c == ' ' || c == '\t', true
	case "cntrl":
		return c < 0x20 || c == 0x7f, true
	case "digit":
		return isDigit, true
	case "graph":
		return isPrint && c != ' ', true
	case "lower":
		return isLower, true
	case "print":
		return isPrint, true
	case "punct":
		return isPrint && c != ' ' && !isAlpha && !isDigit, true
	case "space":
		return isSpace, true
	case "upper":
		return isUpper, true
	case "xdigit":
		return isDigit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'), true
	}
	return false, false
}
