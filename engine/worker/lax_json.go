package worker

import (
	"errors"
	"fmt"
)

// The worker's JSON serializer (§6.3, SimpleJsonSerializer.hpp) does not
// escape strings, so a string may hold raw control characters, quotes and
// backslashes, and encoding/json cannot read every document it writes.
// laxParse reads that dialect into a small tree:
//
//   - strings are taken verbatim: a backslash is an ordinary character
//     (the serializer never writes escapes) and control characters are
//     kept; a '"' ends the string only where the document's structure
//     continues after it (see closesString), otherwise it is content;
//   - numbers keep their literal text, so integers are converted exactly
//     later; besides JSON numbers, the printf spellings nan, -nan, inf and
//     -inf are accepted (what a C++ %f prints for non-finite doubles);
//   - objects keep every member in order, duplicates included; lookups use
//     the last one (as encoding/json does; §6.3 says the duplicated
//     cached_tokens_price_multiplier carries the same value twice).

// laxKind is the kind of a laxValue.
type laxKind uint8

const (
	laxNull laxKind = iota
	laxBool
	laxNumber
	laxString
	laxArray
	laxObject
)

func (k laxKind) String() string {
	switch k {
	case laxNull:
		return "null"
	case laxBool:
		return "boolean"
	case laxNumber:
		return "number"
	case laxString:
		return "string"
	case laxArray:
		return "array"
	case laxObject:
		return "object"
	}
	return "unknown"
}

type laxValue struct {
	kind    laxKind
	b       bool
	text    string // string content, or a number's literal
	elems   []laxValue
	members []laxMember
}

type laxMember struct {
	key string
	val laxValue
}

// get returns the last member named key.
func (v laxValue) get(key string) (laxValue, bool) {
	for i := len(v.members) - 1; i >= 0; i-- {
		if v.members[i].key == key {
			return v.members[i].val, true
		}
	}
	return laxValue{}, false
}

// laxMaxDepth bounds nesting (the schema needs 4).
const laxMaxDepth = 64

type laxParser struct {
	data  []byte
	pos   int
	depth int
}

// laxParse parses one value followed only by whitespace.
func laxParse(data []byte) (laxValue, error) {
	p := &laxParser{data: data}
	p.skipSpace()
	v, err := p.value(followTopLevel)
	if err != nil {
		return laxValue{}, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return laxValue{}, p.errorf("unexpected %s after the document", p.describe())
	}
	return v, nil
}

func (p *laxParser) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *laxParser) describe() string {
	if p.pos >= len(p.data) {
		return "end of input"
	}
	return fmt.Sprintf("%q", p.data[p.pos])
}

func isLaxSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *laxParser) skipSpace() {
	for p.pos < len(p.data) && isLaxSpace(p.data[p.pos]) {
		p.pos++
	}
}

// follow is what may come after a string: the set of bytes that continue
// the structure.
type follow uint8

const (
	followKey      follow = iota // an object key: ':'
	followMember                 // a member value: ',' then '"', or '}'
	followElement                // an array element: ',' then a value, or ']'
	followTopLevel               // the document: end of input
)

func (p *laxParser) value(f follow) (laxValue, error) {
	if p.pos >= len(p.data) {
		return laxValue{}, p.errorf("unexpected end of input, want a value")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, err := p.str(f)
		return laxValue{kind: laxString, text: s}, err
	case c == '-' || '0' <= c && c <= '9' || p.hasWord("nan") || p.hasWord("inf"):
		return p.number()
	case p.hasWord("true"):
		p.pos += 4
		return laxValue{kind: laxBool, b: true}, nil
	case p.hasWord("false"):
		p.pos += 5
		return laxValue{kind: laxBool}, nil
	case p.hasWord("null"):
		p.pos += 4
		return laxValue{kind: laxNull}, nil
	}
	return laxValue{}, p.errorf("unexpected %s, want a value", p.describe())
}

func (p *laxParser) hasWord(w string) bool {
	return len(p.data)-p.pos >= len(w) && string(p.data[p.pos:p.pos+len(w)]) == w
}

func (p *laxParser) enter() error {
	p.depth++
	if p.depth > laxMaxDepth {
		return p.errorf("nested deeper than %d levels", laxMaxDepth)
	}
	return nil
}

func (p *laxParser) object() (laxValue, error) {
	if err := p.enter(); err != nil {
		return laxValue{}, err
	}
	defer func() { p.depth-- }()
	p.pos++ // '{'
	v := laxValue{kind: laxObject}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return v, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return laxValue{}, p.errorf("unexpected %s, want an object key", p.describe())
		}
		key, err := p.str(followKey)
		if err != nil {
			return laxValue{}, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return laxValue{}, p.errorf("unexpected %s after key %q, want ':'", p.describe(), key)
		}
		p.pos++
		p.skipSpace()
		val, err := p.value(followMember)
		if err != nil {
			return laxValue{}, err
		}
		v.members = append(v.members, laxMember{key, val})
		p.skipSpace()
		if p.pos >= len(p.data) {
			return laxValue{}, p.errorf("unexpected end of input in an object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return v, nil
		default:
			return laxValue{}, p.errorf("unexpected %s in an object, want ',' or '}'", p.describe())
		}
	}
}

func (p *laxParser) array() (laxValue, error) {
	if err := p.enter(); err != nil {
		return laxValue{}, err
	}
	defer func() { p.depth-- }()
	p.pos++ // '['
	v := laxValue{kind: laxArray}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return v, nil
	}
	for {
		p.skipSpace()
		el, err := p.value(followElement)
		if err != nil {
			return laxValue{}, err
		}
		v.elems = append(v.elems, el)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return laxValue{}, p.errorf("unexpected end of input in an array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return v, nil
		default:
			return laxValue{}, p.errorf("unexpected %s in an array, want ',' or ']'", p.describe())
		}
	}
}

// str reads a string starting at the opening quote. Its content is taken
// verbatim up to the first '"' after which the structure continues as f
// requires.
func (p *laxParser) str(f follow) (string, error) {
	start := p.pos + 1
	for i := start; i < len(p.data); i++ {
		if p.data[i] == '"' && p.closesString(i+1, f) {
			p.pos = i + 1
			return string(p.data[start:i]), nil
		}
	}
	p.pos = start - 1
	return "", p.errorf("unterminated string")
}

// closesString reports whether the document continues correctly at i if
// a string ended just before it.
func (p *laxParser) closesString(i int, f follow) bool {
	i = p.skipSpaceAt(i)
	if i >= len(p.data) {
		return f == followTopLevel
	}
	switch c := p.data[i]; f {
	case followKey:
		return c == ':'
	case followMember:
		if c == '}' {
			return true
		}
		if c != ',' {
			return false
		}
		j := p.skipSpaceAt(i + 1)
		return j < len(p.data) && p.data[j] == '"'
	case followElement:
		if c == ']' {
			return true
		}
		if c != ',' {
			return false
		}
		j := p.skipSpaceAt(i + 1)
		return j < len(p.data) && startsValue(p.data[j])
	}
	return false
}

func (p *laxParser) skipSpaceAt(i int) int {
	for i < len(p.data) && isLaxSpace(p.data[i]) {
		i++
	}
	return i
}

func startsValue(c byte) bool {
	return c == '"' || c == '{' || c == '[' || c == '-' || '0' <= c && c <= '9' || c == 't' || c == 'f' || c == 'n' || c == 'i'
}

// number reads a number literal: -?digits[.digits][(e|E)[+-]digits], or
// one of nan, -nan, inf, -inf.
func (p *laxParser) number() (laxValue, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	for _, w := range []string{"nan", "inf"} {
		if p.hasWord(w) {
			p.pos += len(w)
			return laxValue{kind: laxNumber, text: string(p.data[start:p.pos])}, nil
		}
	}
	if p.digits() == 0 {
		return laxValue{}, p.errorf("malformed number")
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if p.digits() == 0 {
			return laxValue{}, p.errorf("malformed number: no digits after '.'")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if p.digits() == 0 {
			return laxValue{}, p.errorf("malformed number: no exponent digits")
		}
	}
	return laxValue{kind: laxNumber, text: string(p.data[start:p.pos])}, nil
}

func (p *laxParser) digits() int {
	n := 0
	for p.pos < len(p.data) && '0' <= p.data[p.pos] && p.data[p.pos] <= '9' {
		p.pos++
		n++
	}
	return n
}

var errNotInteger = errors.New("not a whole number")

// exactInt converts a number literal to an int64 without going through
// floating point: "3871200000", "3871200000.000000" and "3.8712e9" all
// give 3871200000; "1.5" and values outside int64 are errors.
func exactInt(lit string) (int64, error) {
	s := lit
	neg := false
	if s != "" && s[0] == '-' {
		neg, s = true, s[1:]
	}
	mant, exp := s, 0
	if i := indexAnyByte(s, 'e', 'E'); i >= 0 {
		mant = s[:i]
		e, ok := smallExp(s[i+1:])
		if !ok {
			// An exponent beyond ±10^6: the value is 0 (all digits
			// zero), out of range (large), or not whole (small).
			if allZero(mant) {
				return 0, nil
			}
			if s[i+1] == '-' {
				return 0, errNotInteger
			}
			return 0, errOutOfRange
		}
		exp = e
	}
	intPart, frac := mant, ""
	if i := indexAnyByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
	}
	if intPart == "" || !allDigits(intPart) || !allDigits(frac) {
		return 0, fmt.Errorf("%q is not a number", lit)
	}
	digits := trimLeadingZeros(intPart + frac)
	// The value is digits × 10^point, point = exp − len(frac).
	point := exp - len(frac)
	if point < 0 {
		cut := len(digits) + point // digits before the decimal point
		if cut < 0 {
			cut = 0
		}
		if !allZero(digits[cut:]) {
			return 0, errNotInteger
		}
		digits = digits[:cut]
	} else if digits != "" {
		if point > 19 {
			return 0, errOutOfRange
		}
		digits += "000000000000000000000"[:point]
	}
	digits = trimLeadingZeros(digits)
	if digits == "" {
		return 0, nil
	}
	if len(digits) > 19 {
		return 0, errOutOfRange
	}
	var u uint64
	for i := 0; i < len(digits); i++ {
		u = u*10 + uint64(digits[i]-'0')
	}
	switch {
	case !neg && u <= 1<<63-1:
		return int64(u), nil
	case neg && u <= 1<<63:
		return int64(-u), nil // -(1<<63) wraps to itself
	}
	return 0, errOutOfRange
}

var errOutOfRange = errors.New("out of range")

func smallExp(s string) (int, bool) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	s = trimLeadingZeros(s)
	if len(s) > 6 || !allDigits(s) {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func indexAnyByte(s string, bs ...byte) int {
	for i := 0; i < len(s); i++ {
		for _, b := range bs {
			if s[i] == b {
				return i
			}
		}
	}
	return -1
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' && s[i] != '.' {
			return false
		}
	}
	return true
}

func trimLeadingZeros(s string) string {
	for len(s) > 0 && s[0] == '0' {
		s = s[1:]
	}
	return s
}
