package main

import (
	"bytes"
	"errors"
	"fmt"
)

// runtimeVars is the content of the spec share's runtime/runtime.vars
// (interface spec §2.4): KEY=VALUE lines in file order.
type runtimeVars struct {
	keys   []string
	values map[string]string
}

// Get returns the value of key and whether it is set.
func (v runtimeVars) Get(key string) (string, bool) {
	val, ok := v.values[key]
	return val, ok
}

// Keys returns the keys in the order they first appear.
func (v runtimeVars) Keys() []string { return append([]string(nil), v.keys...) }

// parseRuntimeVars applies the official renderer's rules
// (tee/cocoon/cocoon-subst.cpp): blank lines and lines starting with '#'
// are skipped; a key is [A-Za-z0-9_]+; a value holds only A–Z a–z 0–9 and
// _ - . : / = @ + (no spaces, no quoting); at least one variable must exist.
// A key set twice keeps its last value. Errors name the line and key but
// never the value, which may be a secret.
func parseRuntimeVars(data []byte) (runtimeVars, error) {
	v := runtimeVars{values: map[string]string{}}
	for i, raw := range bytes.Split(data, []byte("\n")) {
		line := string(raw)
		n := i + 1
		if len(bytes.TrimSpace(raw)) == 0 || line[0] == '#' {
			continue
		}
		eq := bytes.IndexByte(raw, '=')
		if eq < 0 {
			return runtimeVars{}, fmt.Errorf("runtime.vars line %d has no '=': every line must be KEY=VALUE", n)
		}
		key, value := line[:eq], line[eq+1:]
		if !validKey(key) {
			return runtimeVars{}, fmt.Errorf("runtime.vars line %d: the key must be letters, digits and '_' only", n)
		}
		if c, ok := invalidValueChar(value); ok {
			return runtimeVars{}, fmt.Errorf("runtime.vars line %d: the value of %s has the character %s, which is not allowed (only A-Z a-z 0-9 _ - . : / = @ +)", n, key, describeChar(c))
		}
		if _, seen := v.values[key]; !seen {
			v.keys = append(v.keys, key)
		}
		v.values[key] = value
	}
	if len(v.keys) == 0 {
		return runtimeVars{}, errors.New("runtime.vars sets no variable; the host must write at least OWNER_ADDRESS, ROOT_CONTRACT_ADDRESS and WORKER_COEFFICIENT")
	}
	return v, nil
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func invalidValueChar(v string) (byte, bool) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '_', c == '-', c == '.', c == ':', c == '/', c == '=', c == '@', c == '+':
		default:
			return c, true
		}
	}
	return 0, false
}

// describeChar names a rejected character without echoing secret text
// around it.
func describeChar(c byte) string {
	switch {
	case c == ' ':
		return "space"
	case c == '\t':
		return "tab"
	case c == '\r':
		return "carriage return (CRLF line ends)"
	case c < 0x20 || c >= 0x7f:
		return fmt.Sprintf("byte 0x%02x", c)
	default:
		return fmt.Sprintf("%q", c)
	}
}
