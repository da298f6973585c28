package wallet

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	tongowallet "github.com/tonkeeper/tongo/wallet"
	tonwallet "github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/ton/wallet/hdwallet"
	"golang.org/x/crypto/pbkdf2"
)

// TONMnemonicWords is the length of a TON wallet recovery phrase.
const TONMnemonicWords = 24

// MnemonicKind says how a phrase turns into a key.
type MnemonicKind uint8

const (
	// MnemonicTON is a TON-native 24-word phrase (Tonkeeper, MyTonWallet,
	// Tonhub, the TON wallet apps): TON checksum, PBKDF2 "TON default seed".
	MnemonicTON MnemonicKind = iota
	// MnemonicBIP39 is a BIP-39 phrase from a multi-coin wallet, derived
	// as tonutils-go does (SLIP-10 ed25519, path m/44'/607'/0').
	MnemonicBIP39
)

// String names the kind.
func (k MnemonicKind) String() string {
	if k == MnemonicBIP39 {
		return "bip39"
	}
	return "ton"
}

// bip39Path is the derivation path tonutils-go uses for BIP-39 phrases.
const bip39Path = "m/44'/607'/0'"

// Mnemonic is a recovery phrase. It never prints, logs or marshals its
// words ("[redacted]" everywhere), and Zero overwrites them. Copies of a
// Mnemonic share one buffer, so zeroing any copy zeroes all of them.
//
// Go strings cannot be wiped: the words briefly exist as strings inside
// tonutils-go's key derivation and in what Words returns. Keep those short
// lived; the Mnemonic's own buffer is a []byte and is wiped by Zero.
type Mnemonic struct {
	redacted
	ref func() *mnemonicData
}

func (m Mnemonic) data() *mnemonicData {
	if m.ref == nil {
		return nil
	}
	return m.ref()
}

type mnemonicData struct {
	phrase []byte // lower-case words joined by single spaces
	words  int
	kind   MnemonicKind
}

// Sentinel kinds of mnemonic errors; every error from ParseMnemonic and
// ParseBIP39Mnemonic wraps one of them in a *MnemonicError. No error text
// contains a word of the phrase.
var (
	ErrMnemonicEmpty       = errors.New("empty recovery phrase")
	ErrMnemonicWordCount   = errors.New("wrong number of words")
	ErrMnemonicUnknownWord = errors.New("word not in the word list")
	ErrMnemonicChecksum    = errors.New("recovery phrase checksum mismatch")
	ErrMnemonicPassword    = errors.New("recovery phrase needs a password")
	ErrMnemonicIsBIP39     = errors.New("recovery phrase is a BIP-39 phrase")
)

// MnemonicError is a user-facing recovery-phrase error. It names word
// positions (1-based), never the words.
type MnemonicError struct {
	Kind     error // one of the ErrMnemonic* sentinels
	Position int   // 1-based word position for ErrMnemonicUnknownWord, else 0
	Msg      string
}

func (e *MnemonicError) Error() string { return e.Msg }
func (e *MnemonicError) Unwrap() error { return e.Kind }

func mnemonicErr(kind error, pos int, format string, args ...any) error {
	return &MnemonicError{Kind: kind, Position: pos, Msg: fmt.Sprintf(format, args...)}
}

// wordIndex maps each BIP-39 English word to its index (tongo exports the
// list in order; TON phrases use the same words).
var wordIndex = func() map[string]int {
	m := make(map[string]int, len(tongowallet.WORDLIST))
	for i, w := range tongowallet.WORDLIST {
		m[w] = i
	}
	return m
}()

// WordList returns a copy of the 2048-word list recovery phrases use
// (BIP-39 English, alphabetical), for autocompletion.
func WordList() []string { return append([]string(nil), tongowallet.WORDLIST...) }

// WordsWithPrefix returns the words of the list that start with prefix
// (lower-cased), in order; for autocompletion.
func WordsWithPrefix(prefix string) []string {
	prefix = strings.ToLower(strings.TrimSpace(prefix))
	list := tongowallet.WORDLIST
	i := sort.SearchStrings(list, prefix)
	var out []string
	for ; i < len(list) && strings.HasPrefix(list[i], prefix); i++ {
		out = append(out, list[i])
	}
	return out
}

// IsMnemonicWord reports whether w (lower-case) is in the word list.
func IsMnemonicWord(w string) bool {
	_, ok := wordIndex[w]
	return ok
}

// NewMnemonic creates a fresh TON 24-word phrase with tonutils-go's
// wallet.NewSeed (crypto/rand; about 40 ms to find a phrase that passes
// the TON checksum).
func NewMnemonic() Mnemonic {
	words := tonwallet.NewSeed()
	n := 0
	for _, w := range words {
		n += len(w) + 1
	}
	phrase := make([]byte, 0, n)
	for i, w := range words {
		if i > 0 {
			phrase = append(phrase, ' ')
		}
		phrase = append(phrase, w...)
	}
	return Mnemonic{ref: hide(&mnemonicData{phrase: phrase, words: len(words), kind: MnemonicTON})}
}

// ParseMnemonic reads a TON 24-word recovery phrase as typed or pasted:
// case is ignored, words may be separated by any whitespace, commas or
// line breaks, and list numbering ("1." "2)") is dropped. It checks that
// every word is in the list, that there are 24 of them, and the TON
// checksum. A phrase protected by a TON password is refused
// (ErrMnemonicPassword); a valid BIP-39 phrase that is not a TON phrase is
// refused with ErrMnemonicIsBIP39, so the caller can offer
// ParseBIP39Mnemonic, which derives another key.
func ParseMnemonic(input string) (Mnemonic, error) {
	return ParseMnemonicBytes([]byte(input))
}

// ParseMnemonicBytes is ParseMnemonic for a phrase held in a byte slice
// (from the keystore), so that the caller can wipe its buffer. input is not
// modified.
func ParseMnemonicBytes(input []byte) (Mnemonic, error) {
	d, err := normalizeMnemonic(input)
	if err != nil {
		return Mnemonic{}, err
	}
	if d.words != TONMnemonicWords {
		validBIP39 := isBIP39Count(d.words) && bip39ChecksumOK(d.phrase, d.words)
		wipe(d.phrase)
		if validBIP39 {
			return Mnemonic{}, mnemonicErr(ErrMnemonicIsBIP39, 0,
				"this is a %d-word BIP-39 phrase from a multi-coin wallet, not a TON wallet phrase: import it as a BIP-39 phrase, and check that the address shown matches your wallet app", d.words)
		}
		return Mnemonic{}, mnemonicErr(ErrMnemonicWordCount, 0,
			"a TON recovery phrase has 24 words; this one has %d: enter all 24 words in order", d.words)
	}
	entropy := tonEntropy(d.phrase)
	defer wipe(entropy)
	if tonBasicSeedOK(entropy) {
		return Mnemonic{ref: hide(d)}, nil
	}
	needsPassword := tonPasswordSeedOK(entropy)
	validBIP39 := bip39ChecksumOK(d.phrase, d.words)
	wipe(d.phrase)
	switch {
	case needsPassword:
		return Mnemonic{}, mnemonicErr(ErrMnemonicPassword, 0,
			"this recovery phrase is protected by an extra TON password, which this app does not support: use a wallet without a password")
	case validBIP39:
		return Mnemonic{}, mnemonicErr(ErrMnemonicIsBIP39, 0,
			"these words are not a TON wallet phrase but form a valid BIP-39 phrase (from a multi-coin wallet): if that is where they come from, import them as a BIP-39 phrase; otherwise check the order and spelling of each word")
	}
	return Mnemonic{}, mnemonicErr(ErrMnemonicChecksum, 0,
		"the words are all valid but do not form a TON recovery phrase (checksum): check that they are in the right order and that none was swapped for a similar word")
}

// ParseBIP39Mnemonic reads a BIP-39 phrase (12, 15, 18, 21 or 24 words,
// BIP-39 checksum) from a multi-coin wallet. Its key is derived at
// m/44'/607'/0' (tonutils-go's rule); wallets that use another path give
// another address, so show the derived address and let the user compare.
func ParseBIP39Mnemonic(input string) (Mnemonic, error) {
	d, err := normalizeMnemonic([]byte(input))
	if err != nil {
		return Mnemonic{}, err
	}
	if !isBIP39Count(d.words) {
		wipe(d.phrase)
		return Mnemonic{}, mnemonicErr(ErrMnemonicWordCount, 0,
			"a BIP-39 phrase has 12, 15, 18, 21 or 24 words; this one has %d", d.words)
	}
	if !bip39ChecksumOK(d.phrase, d.words) {
		wipe(d.phrase)
		return Mnemonic{}, mnemonicErr(ErrMnemonicChecksum, 0,
			"the words are all valid but do not form a BIP-39 phrase (checksum): check their order and spelling")
	}
	d.kind = MnemonicBIP39
	return Mnemonic{ref: hide(d)}, nil
}

// normalizeMnemonic lower-cases input, splits it into words, drops list
// numbering and checks each word against the list.
func normalizeMnemonic(input []byte) (*mnemonicData, error) {
	work := make([]byte, len(input))
	copy(work, input)
	defer wipe(work)
	for i, c := range work {
		if c >= 'A' && c <= 'Z' {
			work[i] = c + 'a' - 'A'
		}
	}
	fields := splitMnemonic(work)
	phrase := make([]byte, 0, len(work))
	n := 0
	for _, f := range fields {
		f = stripNumbering(f)
		if len(f) == 0 {
			continue
		}
		n++
		if _, ok := wordIndex[string(f)]; !ok {
			wipe(phrase)
			return nil, mnemonicErr(ErrMnemonicUnknownWord, n,
				"word %d is not in the recovery-phrase word list: check its spelling against your backup", n)
		}
		if len(phrase) > 0 {
			phrase = append(phrase, ' ')
		}
		phrase = append(phrase, f...)
	}
	if n == 0 {
		return nil, mnemonicErr(ErrMnemonicEmpty, 0, "enter your 24-word recovery phrase")
	}
	return &mnemonicData{phrase: phrase, words: n, kind: MnemonicTON}, nil
}

// splitMnemonic splits at whitespace (Unicode), commas and semicolons.
func splitMnemonic(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		sep := unicode.IsSpace(r) || r == ',' || r == ';' || r == '\u200b' || r == '\ufeff'
		if sep {
			if start >= 0 {
				out = append(out, b[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
		i += size
	}
	if start >= 0 {
		out = append(out, b[start:])
	}
	return out
}

// stripNumbering removes a leading list number ("12", "12.", "12)") from
// a field; a field of only a number becomes empty.
func stripNumbering(f []byte) []byte {
	i := 0
	for i < len(f) && f[i] >= '0' && f[i] <= '9' {
		i++
	}
	if i == 0 {
		return f
	}
	if i < len(f) && (f[i] == '.' || f[i] == ')') {
		i++
	}
	if i == len(f) || f[i-1] == '.' || f[i-1] == ')' {
		return f[i:]
	}
	return f // digits glued to letters: leave it to the word check
}

// tonEntropy is HMAC-SHA512 keyed with the phrase over the (empty) password.
func tonEntropy(phrase []byte) []byte {
	mac := hmac.New(sha512.New, phrase)
	return mac.Sum(nil)
}

// tonBasicSeedOK is the TON checksum of a phrase without password.
func tonBasicSeedOK(entropy []byte) bool {
	return pbkdf2.Key(entropy, []byte("TON seed version"), 100000/256, 1, sha512.New)[0] == 0
}

// tonPasswordSeedOK reports whether the phrase was made for a password.
func tonPasswordSeedOK(entropy []byte) bool {
	return pbkdf2.Key(entropy, []byte("TON fast seed version"), 1, 1, sha512.New)[0] == 1
}

func isBIP39Count(n int) bool { return n >= 12 && n <= 24 && n%3 == 0 }

// bip39ChecksumOK checks the BIP-39 checksum: the last n/3 bits of the
// 11-bit word indexes are the first bits of SHA-256 of the rest.
func bip39ChecksumOK(phrase []byte, n int) bool {
	if !isBIP39Count(n) {
		return false
	}
	bits := make([]byte, (n*11+7)/8)
	defer wipe(bits)
	pos := 0
	for w := range strings.SplitSeq(string(phrase), " ") {
		idx := wordIndex[w]
		for k := 10; k >= 0; k-- {
			if idx>>k&1 == 1 {
				bits[pos/8] |= 0x80 >> (pos % 8)
			}
			pos++
		}
	}
	csBits := n / 3
	entBytes := (n*11 - csBits) / 8
	sum := sha256.Sum256(bits[:entBytes])
	for k := 0; k < csBits; k++ {
		p := entBytes*8 + k
		got := bits[p/8] >> (7 - p%8) & 1
		want := sum[k/8] >> (7 - k%8) & 1
		if got != want {
			return false
		}
	}
	return true
}

// IsZero reports whether m holds no phrase (never set, or zeroed).
func (m Mnemonic) IsZero() bool { d := m.data(); return d == nil || len(d.phrase) == 0 }

// Kind reports how the phrase is derived.
func (m Mnemonic) Kind() MnemonicKind {
	if d := m.data(); d != nil {
		return d.kind
	}
	return MnemonicTON
}

// WordCount returns the number of words.
func (m Mnemonic) WordCount() int {
	if m.IsZero() {
		return 0
	}
	return m.data().words
}

// Words returns the words, for the one screen that shows a new phrase to
// write down. The strings cannot be wiped; do not keep them.
func (m Mnemonic) Words() []string {
	if m.IsZero() {
		return nil
	}
	return strings.Split(string(m.data().phrase), " ")
}

// AppendPhrase appends the normalized phrase (words joined by single
// spaces) to dst, for the keystore to encrypt; wipe the result after use.
func (m Mnemonic) AppendPhrase(dst []byte) []byte {
	if m.IsZero() {
		return dst
	}
	return append(dst, m.data().phrase...)
}

// Zero overwrites the phrase in every copy of m.
func (m Mnemonic) Zero() {
	d := m.data()
	if d == nil {
		return
	}
	wipe(d.phrase)
	d.phrase = d.phrase[:0]
	d.words = 0
}

// PrivateKey derives the owner wallet key (about 55 ms for a TON phrase:
// PBKDF2-SHA512, 100 000 rounds, via tonutils-go's SeedToPrivateKey).
func (m Mnemonic) PrivateKey() (OwnerKey, error) {
	if m.IsZero() {
		return OwnerKey{}, errors.New("no recovery phrase")
	}
	d := m.data()
	if d.kind == MnemonicBIP39 {
		return bip39PrivateKey(d.phrase)
	}
	words := strings.Split(string(d.phrase), " ")
	k, err := tonwallet.SeedToPrivateKey(words, "", false)
	clear(words)
	if err != nil {
		// The phrase passed the same checks in ParseMnemonic; do not
		// pass the library's message on (it may quote a word).
		return OwnerKey{}, errors.New("derive key from recovery phrase: the phrase was rejected by the TON key derivation")
	}
	defer wipe(k)
	return NewOwnerKey(k)
}

// bip39PrivateKey derives an ed25519 key from a BIP-39 phrase at
// m/44'/607'/0', as tonutils-go's SeedToPrivateKey(…, isBIP39=true) does
// for phrases that fail the TON check. It is done here directly so that a
// BIP-39 phrase that happens to pass the TON checksum is still derived the
// BIP-39 way.
func bip39PrivateKey(phrase []byte) (OwnerKey, error) {
	seed := pbkdf2.Key(phrase, []byte("mnemonic"), 2048, 64, sha512.New)
	defer wipe(seed)
	dk, err := hdwallet.Derived(bip39Path, seed)
	if err != nil {
		return OwnerKey{}, fmt.Errorf("derive BIP-39 key: %w", err)
	}
	defer wipe(dk.PrivateKey)
	defer wipe(dk.ChainCode)
	priv := ed25519.NewKeyFromSeed(dk.PrivateKey)
	defer wipe(priv)
	return NewOwnerKey(priv)
}
