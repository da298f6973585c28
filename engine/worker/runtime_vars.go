package worker

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Keys of runtime.vars that the official launcher sets (§2.4).
const (
	KeyModelName           = "MODEL_NAME"
	KeyModelCommit         = "MODEL_COMMIT"
	KeyModelVerityHash     = "MODEL_VERITY_HASH"
	KeyOwnerAddress        = "OWNER_ADDRESS"
	KeyRootContractAddress = "ROOT_CONTRACT_ADDRESS"
	KeyWorkerCoefficient   = "WORKER_COEFFICIENT"
	KeyHFToken             = "HF_TOKEN"
	KeyNodeWalletKey       = "NODE_WALLET_KEY"
	KeyExternalIP          = "EXTERNAL_IP"
	KeyExternalWorkerPort  = "EXTERNAL_WORKER_PORT"
	KeyExternalClientPort  = "EXTERNAL_CLIENT_PORT"
	KeyProxySCCode         = "PROXY_SC_CODE"
	KeyWorkerSCCode        = "WORKER_SC_CODE"
	KeyClientSCCode        = "CLIENT_SC_CODE"
)

// IsSecretKey reports whether the value of a runtime.vars key is a secret
// that must never be printed: the node wallet key, the Hugging Face token,
// and APP_KEY (a guest system var the official launcher also redacts).
func IsSecretKey(key string) bool {
	switch key {
	case KeyNodeWalletKey, KeyHFToken, "APP_KEY":
		return true
	}
	return false
}

// allowedValueChars is the character set of a runtime.vars value
// (§2.4, tee/cocoon/cocoon-subst.cpp), for error messages.
const allowedValueChars = "A-Z a-z 0-9 _ - . : / = @ +"

func isValueByte(c byte) bool {
	switch {
	case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '_', '-', '.', ':', '/', '=', '@', '+':
		return true
	}
	return false
}

func isKeyByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_'
}

// ValueError reports a character a runtime.vars value may not contain.
// For a secret key the character itself is left out of the message.
type ValueError struct {
	Key    string // the variable, when known
	Offset int    // byte offset of the character in the value
	Char   rune   // the character (utf8.RuneError for an invalid byte)
	Byte   byte   // the first byte of the character
	Secret bool   // the value is a secret: Error does not show Char
}

func (e *ValueError) Error() string {
	var b strings.Builder
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	switch {
	case e.Secret:
		fmt.Fprintf(&b, "illegal character at byte %d (not shown: the value is secret)", e.Offset)
	case e.Char == utf8.RuneError:
		fmt.Fprintf(&b, "illegal byte 0x%02X at byte %d", e.Byte, e.Offset)
	default:
		fmt.Fprintf(&b, "illegal character %q (U+%04X) at byte %d", e.Char, e.Char, e.Offset)
	}
	b.WriteString("; runtime.vars values may contain only " + allowedValueChars + " (no spaces, quotes or other characters)")
	return b.String()
}

// ValidateValue checks a runtime.vars value against the guest's parser
// (§2.4): only the characters A–Z a–z 0–9 _ - . : / = @ + are allowed; any
// other character aborts config rendering in the guest. The empty value is
// allowed. A failure is a *ValueError naming the character and its byte
// offset.
func ValidateValue(v string) error {
	for i := 0; i < len(v); i++ {
		if isValueByte(v[i]) {
			continue
		}
		r, _ := utf8.DecodeRuneInString(v[i:])
		return &ValueError{Offset: i, Char: r, Byte: v[i]}
	}
	return nil
}

// ValidateKey checks a runtime.vars key against [A-Za-z0-9_]+ (§2.4).
func ValidateKey(k string) error {
	if k == "" {
		return errors.New("empty runtime.vars key; keys match [A-Za-z0-9_]+")
	}
	for i := 0; i < len(k); i++ {
		if !isKeyByte(k[i]) {
			r, _ := utf8.DecodeRuneInString(k[i:])
			return fmt.Errorf("runtime.vars key %q: illegal character %q at byte %d; keys match [A-Za-z0-9_]+", k, r, i)
		}
	}
	return nil
}

// validateVar checks key and value, hiding secret values in the error.
func validateVar(key, value string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ValidateValue(value); err != nil {
		var ve *ValueError
		if errors.As(err, &ve) {
			ve.Key = key
			ve.Secret = IsSecretKey(key)
		}
		return err
	}
	return nil
}

// RuntimeVars is the ordered KEY=VALUE list of runtime/runtime.vars
// (§2.4). Every key and value in it has been validated. The zero value is
// an empty list ready to use. Printing a RuntimeVars (String, any fmt verb)
// redacts secret values (see IsSecretKey).
type RuntimeVars struct {
	vars []runtimeVar
}

type runtimeVar struct{ key, value string }

// Set validates key and value, then replaces the value of an existing key
// in place or appends a new key at the end.
func (rv *RuntimeVars) Set(key, value string) error {
	if err := validateVar(key, value); err != nil {
		return fmt.Errorf("set runtime var: %w", err)
	}
	if i := rv.index(key); i >= 0 {
		rv.vars[i].value = value
		return nil
	}
	rv.vars = append(rv.vars, runtimeVar{key, value})
	return nil
}

// Get returns the value of key.
func (rv RuntimeVars) Get(key string) (string, bool) {
	if i := rv.index(key); i >= 0 {
		return rv.vars[i].value, true
	}
	return "", false
}

// Delete removes key; it reports whether the key was present.
func (rv *RuntimeVars) Delete(key string) bool {
	i := rv.index(key)
	if i < 0 {
		return false
	}
	rv.vars = append(rv.vars[:i:i], rv.vars[i+1:]...)
	return true
}

// Keys returns the keys in file order.
func (rv RuntimeVars) Keys() []string {
	keys := make([]string, len(rv.vars))
	for i, v := range rv.vars {
		keys[i] = v.key
	}
	return keys
}

// Len returns the number of variables.
func (rv RuntimeVars) Len() int { return len(rv.vars) }

// Clone returns an independent copy.
func (rv RuntimeVars) Clone() RuntimeVars {
	return RuntimeVars{vars: append([]runtimeVar(nil), rv.vars...)}
}

// Merge applies the official launcher's merge rule (§2.4) with rv as the
// existing file and set as the variables being set: a key of rv that set
// does not contain keeps its value and place, a key in both takes set's
// value in rv's place, and keys only in set are appended in set's order.
// rv itself is not changed.
func (rv RuntimeVars) Merge(set RuntimeVars) RuntimeVars {
	out := rv.Clone()
	for _, v := range set.vars {
		if i := out.index(v.key); i >= 0 {
			out.vars[i].value = v.value
		} else {
			out.vars = append(out.vars, v)
		}
	}
	return out
}

func (rv RuntimeVars) index(key string) int {
	for i, v := range rv.vars {
		if v.key == key {
			return i
		}
	}
	return -1
}

// Bytes returns the file content: one KEY=VALUE line per variable, in
// order, each ending in "\n". It fails on an empty list, because the guest
// refuses a runtime.vars without variables. (It is not called Format: that
// name is fmt.Formatter's, which RuntimeVars implements to redact secrets.)
func (rv RuntimeVars) Bytes() ([]byte, error) {
	if len(rv.vars) == 0 {
		return nil, errors.New("runtime.vars would be empty; the guest needs at least one variable")
	}
	var b bytes.Buffer
	for _, v := range rv.vars {
		b.WriteString(v.key)
		b.WriteByte('=')
		b.WriteString(v.value)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// String lists the variables as KEY=VALUE separated by spaces, with secret
// values replaced by "[redacted]".
func (rv RuntimeVars) String() string {
	var b strings.Builder
	for i, v := range rv.vars {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(v.key)
		b.WriteByte('=')
		if IsSecretKey(v.key) {
			b.WriteString(redacted)
		} else {
			b.WriteString(v.value)
		}
	}
	return b.String()
}

// Format implements fmt.Formatter: every verb prints String, so no verb
// reaches the unexported values.
func (rv RuntimeVars) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(rv.String())) }

// ParseRuntimeVars parses a runtime.vars file with the guest's rules
// (§2.4): blank lines and lines starting with '#' are skipped, every other
// line is KEY=VALUE with the key matching [A-Za-z0-9_]+ and the value in
// the allowed character set, and at least one variable must exist. A
// trailing "\r" is not allowed (it is not in the character set). Comments
// are not kept. A key that appears twice is an error: which one the guest
// would use is not specified.
func ParseRuntimeVars(data []byte) (RuntimeVars, error) {
	var rv RuntimeVars
	firstLine := map[string]int{}
	for n, line := range strings.Split(string(data), "\n") {
		lineNo := n + 1
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return RuntimeVars{}, fmt.Errorf("runtime.vars line %d: no '=' (want KEY=VALUE)", lineNo)
		}
		if err := validateVar(key, value); err != nil {
			return RuntimeVars{}, fmt.Errorf("runtime.vars line %d: %w", lineNo, err)
		}
		if first, dup := firstLine[key]; dup {
			return RuntimeVars{}, fmt.Errorf("runtime.vars line %d: key %s repeats line %d; keep one of them", lineNo, key, first)
		}
		firstLine[key] = lineNo
		rv.vars = append(rv.vars, runtimeVar{key, value})
	}
	if len(rv.vars) == 0 {
		return RuntimeVars{}, errors.New("runtime.vars has no variables; the guest needs at least one")
	}
	return rv, nil
}
