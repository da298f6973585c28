package diag

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// Kind names what a replacement stood for.
type Kind string

// Kinds of redaction, in the order the manifest lists them.
const (
	KindAddress  Kind = "address"  // TON addresses → <address-N>
	KindMnemonic Kind = "mnemonic" // recovery phrases → <mnemonic-redacted>
	KindToken    Kind = "token"    // API tokens, bearer tokens, passwords → <token-redacted>
	KindKey      Kind = "key"      // base64 keys, PEM private keys → <key-redacted>
	KindHex      Kind = "hex"      // hex runs of 64+ digits → <hex-redacted>
	KindHome     Kind = "home"     // the home directory → ~
	KindUser     Kind = "user"     // the user name → <user>
	KindHost     Kind = "host"     // the host name → <host>
	KindIP       Kind = "ip"       // IP addresses other than loopback → <ip>
	// KindSecretField counts values of secret-looking settings and event
	// attributes that were left out entirely (the bundle writer counts
	// them, not the Redactor).
	KindSecretField Kind = "secret-field"
)

// Kinds lists every kind in the manifest's order.
func Kinds() []Kind {
	return []Kind{KindAddress, KindMnemonic, KindToken, KindKey, KindHex, KindHome, KindUser, KindHost, KindIP, KindSecretField}
}

// Describe says in words what a kind replaces and with what.
func (k Kind) Describe() string {
	switch k {
	case KindAddress:
		return "TON addresses, any form (the same account gets the same number) → <address-N>"
	case KindMnemonic:
		return "runs of 12 or more recovery-phrase words → <mnemonic-redacted>"
	case KindToken:
		return "API tokens, bearer tokens, Authorization headers, token=/password= values → <token-redacted>"
	case KindKey:
		return "base64 keys (32 bytes or more) and PEM private keys → <key-redacted>"
	case KindHex:
		return "hex strings of 64 or more digits (keys, hashes) other than the public image and model hashes → <hex-redacted>"
	case KindHome:
		return "the home directory → ~"
	case KindUser:
		return "the user name → <user>"
	case KindHost:
		return "the host name → <host>"
	case KindIP:
		return "IP addresses other than loopback and 0.0.0.0/:: → <ip>"
	case KindSecretField:
		return "values of secret-looking settings and event attributes, left out entirely"
	}
	return string(k)
}

// Placeholders the Redactor writes.
const (
	mnemonicLabel = "<mnemonic-redacted>"
	tokenLabel    = "<token-redacted>"
	keyLabel      = "<key-redacted>"
	hexLabel      = "<hex-redacted>"
	homeLabel     = "~"
	userLabel     = "<user>"
	hostLabel     = "<host>"
	ipLabel       = "<ip>"
)

// Placeholders are the texts a Redactor writes in place of what it hides;
// an address's label is "<address-" with its number and ">".
func Placeholders() []string {
	return []string{"<address-", mnemonicLabel, tokenLabel, keyLabel, hexLabel, homeLabel, userLabel, hostLabel, ipLabel}
}

// RedactorConfig says what a Redactor looks for besides the patterns every
// bundle hides.
type RedactorConfig struct {
	// KeepAddresses leaves TON addresses as they are (the user opted in).
	KeepAddresses bool
	// PublicHashes are hex strings safe to keep (image and model hashes),
	// compared without regard to case.
	PublicHashes []string
	// Secrets are literal values to hide wherever they appear, such as the
	// content of the API token file. Values shorter than 8 characters are
	// ignored: they would match ordinary text.
	Secrets []string
	// Home is the user's home directory; it becomes "~".
	Home string
	// Users and Hosts are the user and host names to hide. Names shorter
	// than 3 characters, "root" and "localhost" are ignored: they name
	// nobody and would match ordinary text.
	Users []string
	Hosts []string
}

// Redactor replaces what a bug report must not carry. The same TON account
// gets the same <address-N> label in every text one Redactor handles. It
// is safe for concurrent use.
type Redactor struct {
	keepAddrs bool
	public    map[string]bool
	secrets   []string
	home      string
	users     []string
	hosts     []string

	mu     sync.Mutex
	addrs  map[string]int // account (raw form) → label number
	counts map[Kind]int
}

// NewRedactor returns a Redactor for cfg.
func NewRedactor(cfg RedactorConfig) *Redactor {
	r := &Redactor{keepAddrs: cfg.KeepAddresses, public: map[string]bool{}, addrs: map[string]int{}, counts: map[Kind]int{}}
	for _, h := range cfg.PublicHashes {
		if h = strings.TrimSpace(h); h != "" {
			r.public[strings.ToLower(h)] = true
		}
	}
	for _, s := range cfg.Secrets {
		if s = strings.TrimSpace(s); len(s) >= 8 && !slices.Contains(r.secrets, s) {
			r.secrets = append(r.secrets, s)
		}
	}
	// Longer first, so that a value containing another is replaced whole.
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	if h := strings.TrimRight(cfg.Home, "/"); len(h) > 1 {
		r.home = h
	}
	r.users = names(cfg.Users, "root")
	r.hosts = names(cfg.Hosts, "localhost")
	return r
}

// names keeps the distinct names of 3 characters or more other than skip,
// longest first.
func names(in []string, skip string) []string {
	var out []string
	for _, n := range in {
		n = strings.TrimSpace(n)
		if len(n) < 3 || strings.EqualFold(n, skip) || slices.Contains(out, n) {
			continue
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// Counts returns the number of replacements made so far, per kind.
func (r *Redactor) Counts() map[Kind]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.counts)
}

// span is a piece of the input that one detector claimed: replaced with
// repl, or kept as it is (keep) so that no later detector touches it.
type span struct {
	start, end int
	kind       Kind
	repl       string
	keep       bool
	account    string // KindAddress: the account, for its label
}

// Redact returns s with everything the Redactor hides replaced. Detectors
// run in order of precedence; a piece of text claimed by one (replaced or
// deliberately kept) is not looked at by the next. Phrases come before
// keyed values so that "mnemonic: word word …" loses every word, not only
// the first.
func (r *Redactor) Redact(s string) string {
	spans := r.find(s)
	if len(spans) == 0 {
		return s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp.start])
		b.WriteString(r.replaceLocked(sp))
		last = sp.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// RedactLines redacts lines as one text, the lines joined by line breaks,
// so that what spans lines (a recovery phrase written a word a line, a PEM
// private key) is found as Redact finds it, and returns the result line by
// line: as many lines as it was given, each the redacted form of the line
// at the same index. A replacement that spans lines stands on the first
// line it covers; what it covers on the following lines is left out.
func (r *Redactor) RedactLines(lines []string) []string {
	out := make([]string, len(lines))
	s := strings.Join(lines, "\n")
	spans := r.find(s)
	if len(spans) == 0 {
		copy(out, lines)
		return out
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	written := make([]bool, len(spans))
	next := 0 // the first span that may reach the current line
	off := 0
	for i, line := range lines {
		ls, le := off, off+len(line)
		off = le + 1
		for next < len(spans) && spans[next].end <= ls {
			next++
		}
		var b strings.Builder
		pos := ls
		for k := next; k < len(spans) && spans[k].start < le; k++ {
			sp := spans[k]
			if sp.end <= ls {
				continue
			}
			b.WriteString(s[pos:max(sp.start, ls)])
			if !written[k] {
				b.WriteString(r.replaceLocked(sp))
				written[k] = true
			}
			pos = min(sp.end, le)
		}
		if pos == ls {
			out[i] = line
			continue
		}
		b.WriteString(s[pos:le])
		out[i] = b.String()
	}
	return out
}

// find returns the spans of s to replace, in order; spans that are kept
// as they are claimed text only while detecting and are left out.
func (r *Redactor) find(s string) []span {
	if s == "" {
		return nil
	}
	claimed := make([]bool, len(s))
	var spans []span
	add := func(sp span) {
		if sp.start < 0 || sp.end > len(s) || sp.start >= sp.end {
			return
		}
		for i := sp.start; i < sp.end; i++ {
			if claimed[i] {
				return
			}
		}
		for i := sp.start; i < sp.end; i++ {
			claimed[i] = true
		}
		spans = append(spans, sp)
	}
	for _, detect := range []func(string, func(span)){
		r.pemKeys, r.literalSecrets, mnemonics, r.keyedSecrets, r.addresses,
		r.hexRuns, base64Keys, r.homeDir, r.userNames, r.hostNames, ipv6s, ipv4s,
	} {
		detect(s, add)
	}
	spans = slices.DeleteFunc(spans, func(sp span) bool { return sp.keep })
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	return spans
}

// replaceLocked returns what replaces sp (an address gets its account's
// label) and counts it; r.mu is held.
func (r *Redactor) replaceLocked(sp span) string {
	r.counts[sp.kind]++
	if sp.kind != KindAddress {
		return sp.repl
	}
	n, ok := r.addrs[sp.account]
	if !ok {
		n = len(r.addrs) + 1
		r.addrs[sp.account] = n
	}
	return fmt.Sprintf("<address-%d>", n)
}

var pemKeyRE = regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)`)

// pemKeys hides PEM private key blocks (to the end of the text when the
// block is cut off).
func (r *Redactor) pemKeys(s string, add func(span)) {
	for _, m := range pemKeyRE.FindAllStringIndex(s, -1) {
		add(span{start: m[0], end: m[1], kind: KindKey, repl: keyLabel})
	}
}

// literalSecrets hides the configured secret values.
func (r *Redactor) literalSecrets(s string, add func(span)) {
	for _, sec := range r.secrets {
		for off := 0; ; {
			i := strings.Index(s[off:], sec)
			if i < 0 {
				break
			}
			add(span{start: off + i, end: off + i + len(sec), kind: KindToken, repl: tokenLabel})
			off += i + len(sec)
		}
	}
}

var (
	// authRE finds an Authorization header; its value runs to the end of
	// the line or a closing quote.
	authRE = regexp.MustCompile(`\bauthorization"?\s*[:=]\s*`)
	// bearerRE finds a bearer token.
	bearerRE = regexp.MustCompile(`\bbearer\s+([a-z0-9._~+/-]+=*)`)
	// keyedRE finds the end of a secret-looking key followed by = or :, in
	// key=value, "key": value and URL query forms (keyedSecrets finds the
	// key's start: a leading [a-z0-9_.-]* here would make the search slow).
	keyedRE = regexp.MustCompile(`(token|secret|passw(?:or)?d|passphrase|api[_-]?key|private[_-]?key|mnemonic|seed[_-]?phrase|wallet[_-]?key)"?\s*[:=]\s*`)
)

// keyedSecrets hides the values of Authorization headers, bearer tokens
// and secret-looking keys, in any case. The patterns run over an ASCII
// lower-case copy of s (same length, so the same offsets): much faster
// than case-insensitive patterns.
func (r *Redactor) keyedSecrets(s string, add func(span)) {
	lower := asciiLower(s)
	for _, m := range authRE.FindAllStringIndex(lower, -1) {
		start, end := valueAt(s, m[1], true)
		if end > start {
			add(span{start: start, end: end, kind: KindToken, repl: tokenLabel})
		}
	}
	for _, m := range bearerRE.FindAllStringSubmatchIndex(lower, -1) {
		if v := s[m[2]:m[3]]; looksLikeToken(v) { // the original case
			add(span{start: m[2], end: m[3], kind: KindToken, repl: tokenLabel})
		}
	}
	for _, m := range keyedRE.FindAllStringSubmatchIndex(lower, -1) {
		word := lower[m[2]:m[3]]
		start, end := valueAt(s, m[1], false)
		if end <= start {
			continue
		}
		v := s[start:end]
		if word == "token" && !looksLikeToken(v) {
			continue // token counts and prices: fee_per_token=20
		}
		if v == "null" || v == "true" || v == "false" || strings.ContainsAny(v[:1], "<{[") {
			continue // no value, a placeholder, or the start of a structure
		}
		add(span{start: start, end: end, kind: KindToken, repl: tokenLabel})
	}
}

// asciiLower returns s with A-Z in lower case and every other byte as it is.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// valueAt returns the value that starts at i: a quoted string (without its
// quotes), or up to the end of the line (rest) or the next space,
// delimiter or quote.
func valueAt(s string, i int, rest bool) (int, int) {
	if i >= len(s) {
		return i, i
	}
	if q := s[i]; q == '"' || q == '\'' {
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case q:
				return i + 1, j
			case '\n':
				return i + 1, j
			}
		}
		return i + 1, len(s)
	}
	j := i
	for j < len(s) {
		c := s[j]
		if c == '\n' || c == '\r' || c == '"' || c == '\'' {
			break
		}
		if !rest && (c == ' ' || c == '\t' || c == ',' || c == ';' || c == '&' || c == '}' || c == ']' || c == ')') {
			break
		}
		j++
	}
	for j > i && (s[j-1] == ' ' || s[j-1] == '\t') {
		j--
	}
	return i, j
}

// looksLikeToken reports whether v can be a token rather than a number or
// a word: 8 characters or more, not only digits (and dots), not only
// lower-case letters.
func looksLikeToken(v string) bool {
	if len(v) < 8 {
		return false
	}
	digits, lower := true, true
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c == '.') {
			digits = false
		}
		if !(c >= 'a' && c <= 'z') {
			lower = false
		}
	}
	return !digits && !lower
}

// minMnemonicWords is the shortest run of recovery-phrase words hidden.
const minMnemonicWords = 12

// mnemonics hides runs of minMnemonicWords or more words of the BIP-39
// list (which TON phrases use too), separated by spaces, line breaks,
// commas, quotes, list numbers or JSON escapes (\n).
func mnemonics(s string, add func(span)) {
	runStart, runEnd, words := -1, -1, 0
	gap := 0 // bytes since the last word of the run
	flush := func() {
		if words >= minMnemonicWords {
			add(span{start: runStart, end: runEnd, kind: KindMnemonic, repl: mnemonicLabel})
		}
		runStart, runEnd, words, gap = -1, -1, 0, 0
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == 'n' || s[i+1] == 't' || s[i+1] == 'r'):
			gap += 2
			i += 2
		case isLetter(c):
			j := i
			for j < len(s) && isLetter(s[j]) {
				j++
			}
			w := s[i:j]
			glued := i > 0 && (s[i-1] == '_' || s[i-1] >= 0x80) || j < len(s) && (isDigit(s[j]) || s[j] == '_' || s[j] >= 0x80)
			if !glued && isListWord(w) {
				if words == 0 {
					runStart = i
				}
				words++
				runEnd, gap = j, 0
			} else {
				flush()
			}
			i = j
		case isGap(c):
			if words > 0 {
				gap++
				if gap > 16 {
					flush()
				}
			}
			i++
		default:
			flush()
			i++
		}
	}
	flush()
}

// isListWord reports whether w, in lower or upper case, is a word of the
// recovery-phrase list.
func isListWord(w string) bool {
	if len(w) < 3 || len(w) > 8 {
		return false
	}
	lower := strings.ToLower(w)
	if w != lower && w != strings.ToUpper(w) {
		return false
	}
	return wallet.IsMnemonicWord(lower)
}

// isGap reports whether c may stand between the words of a phrase.
func isGap(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ';', '"', '\'', '[', ']', '(', ')', '.', ':', '|', '-':
		return true
	}
	return isDigit(c)
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isHex(c byte) bool    { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
func isAlnum(c byte) bool  { return isLetter(c) || isDigit(c) }

// isB64URL and isB64Std report whether c belongs to the base64url or the
// standard base64 alphabet.
func isB64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }
func isB64Std(c byte) bool { return isAlnum(c) || c == '+' || c == '/' }

// userFriendlyLen is the length of a user-friendly TON address.
const userFriendlyLen = 48

var rawAddrRE = regexp.MustCompile(`-?[0-9]{1,3}:[0-9a-fA-F]{64}`)

// addresses hides TON addresses: the 48-character user-friendly form in
// either base64 alphabet and the raw wc:hex form, each checked by
// wallet.ParseAnyAddress (checksum, flags, workchain) so that other
// base64 text is left alone. With KeepAddresses they are claimed but kept.
func (r *Redactor) addresses(s string, add func(span)) {
	claim := func(start, end int, a wallet.Address) {
		add(span{start: start, end: end, kind: KindAddress, keep: r.keepAddrs, account: a.Raw()})
	}
	for _, m := range rawAddrRE.FindAllStringIndex(s, -1) {
		if m[0] > 0 && (isAlnum(s[m[0]-1]) || s[m[0]-1] == '-') || m[1] < len(s) && isAlnum(s[m[1]]) {
			continue
		}
		if a, err := wallet.ParseAnyAddress(s[m[0]:m[1]]); err == nil {
			claim(m[0], m[1], a)
		}
	}
	for _, in := range []func(byte) bool{isB64URL, isB64Std} {
		forRuns(s, in, userFriendlyLen, func(start, end int) {
			// Every window of 48 characters bounded by the run or by a
			// character that is not a letter or digit, so that an address
			// in a URL path or after "owner_" is found too; the checksum
			// keeps other base64 text from passing.
			for i := start; i+userFriendlyLen <= end; i++ {
				j := i + userFriendlyLen
				if (i != start && isAlnum(s[i-1])) || (j != end && isAlnum(s[j])) {
					continue
				}
				if a, err := wallet.ParseAnyAddress(s[i:j]); err == nil {
					claim(i, j, a)
				}
			}
		})
	}
}

// forRuns calls f for each maximal run of bytes in the class that is at
// least minLen long.
func forRuns(s string, in func(byte) bool, minLen int, f func(start, end int)) {
	for i := 0; i < len(s); {
		if !in(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && in(s[j]) {
			j++
		}
		if j-i >= minLen {
			f(i, j)
		}
		i = j
	}
}

// minHexRun is the shortest hex run hidden: 32 bytes, a key or a hash.
const minHexRun = 64

// hexRuns hides runs of 64 or more hex digits unless they are public hashes.
func (r *Redactor) hexRuns(s string, add func(span)) {
	forRuns(s, isHex, minHexRun, func(start, end int) {
		add(span{start: start, end: end, kind: KindHex, repl: hexLabel, keep: r.public[strings.ToLower(s[start:end])]})
	})
}

var uuidRE = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// minBase64Key is the length of 32 bytes in unpadded base64.
const minBase64Key = 43

// base64Keys hides base64 strings of 32 bytes or more with upper- and
// lower-case letters and digits (node keys as the worker's configuration
// holds them), but not paths (a leading '/') or GPU UUIDs.
func base64Keys(s string, add func(span)) {
	for _, in := range []func(byte) bool{isB64URL, isB64Std} {
		forRuns(s, in, minBase64Key, func(start, end int) {
			v := s[start:end]
			if v[0] == '/' || strings.Contains(v, "//") || uuidRE.MatchString(v) {
				return
			}
			var up, low, dig bool
			for i := 0; i < len(v); i++ {
				c := v[i]
				up = up || c >= 'A' && c <= 'Z'
				low = low || c >= 'a' && c <= 'z'
				dig = dig || isDigit(c)
			}
			if !up || !low || !dig {
				return
			}
			for end < len(s) && end-start < len(v)+2 && s[end] == '=' {
				end++
			}
			add(span{start: start, end: end, kind: KindKey, repl: keyLabel})
		})
	}
}

// homeDir replaces the home directory where it is a whole path component.
func (r *Redactor) homeDir(s string, add func(span)) {
	if r.home == "" {
		return
	}
	for off := 0; ; {
		i := strings.Index(s[off:], r.home)
		if i < 0 {
			return
		}
		start, end := off+i, off+i+len(r.home)
		if end == len(s) || !isNameByte(s[end]) {
			add(span{start: start, end: end, kind: KindHome, repl: homeLabel})
		}
		off = end
	}
}

// isNameByte reports whether c can continue a file or user name.
func isNameByte(c byte) bool { return isAlnum(c) || c == '.' || c == '_' || c == '-' }

func (r *Redactor) userNames(s string, add func(span)) { words(s, r.users, KindUser, userLabel, add) }
func (r *Redactor) hostNames(s string, add func(span)) { words(s, r.hosts, KindHost, hostLabel, add) }

// words replaces each name where it stands as a whole word (not inside a
// longer name; a following '.' is allowed, as in host.example.com).
func words(s string, list []string, kind Kind, repl string, add func(span)) {
	for _, n := range list {
		for off := 0; ; {
			i := strings.Index(s[off:], n)
			if i < 0 {
				break
			}
			start, end := off+i, off+i+len(n)
			before := start == 0 || !isWordByte(s[start-1])
			after := end == len(s) || !isWordByte(s[end])
			if before && after {
				add(span{start: start, end: end, kind: kind, repl: repl})
			}
			off = end
		}
	}
}

func isWordByte(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

// keepIP reports whether an IP address names nothing about the machine's
// network: loopback or unspecified.
func keepIP(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsUnspecified()
}

// ipv6s hides IPv6 addresses: whole tokens of hex digits, colons and dots
// (an embedded IPv4), with an optional %zone, that parse as IPv6 and have
// a digit.
func ipv6s(s string, add func(span)) {
	in := func(c byte) bool { return isAlnum(c) || c == ':' || c == '.' || c == '%' }
	forRuns(s, in, 2, func(start, end int) {
		for end > start && (s[end-1] == '.' || s[end-1] == ':' && (end-start < 2 || s[end-2] != ':')) {
			end-- // a sentence's full stop, or "addr:" before a value
		}
		v := s[start:end]
		// A real address has a digit ("fe80::1"); "a::b" is code.
		if strings.Count(v, ":") < 2 || v != "::" && !strings.ContainsAny(v, "0123456789") {
			return
		}
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is6() {
			return
		}
		add(span{start: start, end: end, kind: KindIP, repl: ipLabel, keep: keepIP(a)})
	})
}

var ipv4RE = regexp.MustCompile(`[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}`)

// ipv4s hides dotted-quad IPv4 addresses that stand alone (not inside a
// longer dotted number such as a version).
func ipv4s(s string, add func(span)) {
	for _, m := range ipv4RE.FindAllStringIndex(s, -1) {
		start, end := m[0], m[1]
		if start > 0 && (isAlnum(s[start-1]) || s[start-1] == '.') {
			continue
		}
		if end < len(s) && (isAlnum(s[end]) || s[end] == '.' && end+1 < len(s) && isDigit(s[end+1])) {
			continue
		}
		a, err := netip.ParseAddr(s[start:end])
		if err != nil {
			continue
		}
		add(span{start: start, end: end, kind: KindIP, repl: ipLabel, keep: keepIP(a)})
	}
}
