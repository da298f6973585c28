package wallet

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	tonwallet "github.com/xssnick/tonutils-go/ton/wallet"
)

// §1.2: the sample phrase in tonutils-go's example/wallet/main.go.
const vecPhrase = "diet diet attack autumn expose honey skate lounge holiday opinion village priority major enroll romance famous motor pact hello rubber express warfare rose whisper"

const vecPubHex = "aaa94b3e91beb377d7b6c17f3a15cb8b10854b7c39dcce963edec3b3603ea861"

// tonutils-go's ton/wallet/seed_test.go BIP-39 vector.
const (
	bip39Phrase   = "awesome scale mansion decade will rail beyond pink into enrich flock before cream oval pottery priority acid onion burst salad police pyramid stick hawk"
	bip39V5R1Addr = "UQCdMgVv3MHurW103oa4tdsuP1a-wZmNE0ZweBlK_Iy7tK1o"
)

// vecKey derives the §1.2 key once per test binary.
var vecKeyCache OwnerKey

func vecKey(t testing.TB) OwnerKey {
	t.Helper()
	if vecKeyCache.IsZero() {
		m, err := ParseMnemonic(vecPhrase)
		if err != nil {
			t.Fatal(err)
		}
		k, err := m.PrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		vecKeyCache = k
	}
	return vecKeyCache
}

func TestMnemonicVector(t *testing.T) {
	k := vecKey(t)
	if got := hex.EncodeToString(k.Public()); got != vecPubHex {
		t.Fatalf("public key %s, want %s", got, vecPubHex)
	}
	// Oracle: tonutils-go directly.
	lib, err := tonwallet.SeedToPrivateKey(strings.Split(vecPhrase, " "), "", false)
	if err != nil || !bytes.Equal(lib, k.private()) {
		t.Fatalf("tonutils key differs: %v", err)
	}
}

func TestParseMnemonicNormalizes(t *testing.T) {
	words := strings.Split(vecPhrase, " ")
	var numbered, numberedGlued, columns strings.Builder
	for i, w := range words {
		fmt.Fprintf(&numbered, "%d. %s\n", i+1, w)
		fmt.Fprintf(&numberedGlued, "%d)%s ", i+1, strings.ToUpper(w[:1])+w[1:])
	}
	columns.WriteString(strings.Join(words[:12], "\t") + "\r\n" + strings.Join(words[12:], "\t"))
	for _, in := range []string{
		vecPhrase,
		"  " + strings.ToUpper(vecPhrase) + "  ",
		strings.ReplaceAll(vecPhrase, " ", "   "),
		strings.ReplaceAll(vecPhrase, " ", "\n"),
		strings.ReplaceAll(vecPhrase, " ", ", "),
		strings.ReplaceAll(vecPhrase, " ", "\u00a0"),
		numbered.String(),
		numberedGlued.String(),
		columns.String(),
	} {
		m, err := ParseMnemonic(in)
		if err != nil {
			t.Errorf("ParseMnemonic(%q): %v", in, err)
			continue
		}
		if got := string(m.AppendPhrase(nil)); got != vecPhrase || m.WordCount() != 24 || m.Kind() != MnemonicTON {
			t.Errorf("normalized to %q (%d words)", got, m.WordCount())
		}
		if strings.Join(m.Words(), " ") != vecPhrase {
			t.Error("Words")
		}
	}
}

// assertNoWords fails if s contains any word of phrase.
func assertNoWords(t *testing.T, s, phrase string) {
	t.Helper()
	for _, w := range strings.Fields(phrase) {
		if len(w) > 2 && strings.Contains(strings.ToLower(s), w) {
			t.Errorf("%q echoes the word %q", s, w)
		}
	}
}

func TestParseMnemonicErrors(t *testing.T) {
	words := strings.Split(vecPhrase, " ")
	swapped := append([]string(nil), words...)
	swapped[3], swapped[4] = swapped[4], swapped[3]
	replaced := append([]string(nil), words...)
	replaced[23] = "zoo"
	typo := append([]string(nil), words...)
	typo[6] = "skaet"
	tests := []struct {
		name, in string
		kind     error
		pos      int
		says     string
	}{
		{"empty", "  \n", ErrMnemonicEmpty, 0, "24-word"},
		{"unknown word", strings.Join(typo, " "), ErrMnemonicUnknownWord, 7, "word 7 is not in"},
		{"digits glued", strings.Replace(vecPhrase, "honey", "hon3y", 1), ErrMnemonicUnknownWord, 6, "word 6"},
		{"12 of 24", strings.Join(words[:12], " "), ErrMnemonicWordCount, 0, "has 24 words; this one has 12"},
		{"23", strings.Join(words[:23], " "), ErrMnemonicWordCount, 0, "this one has 23"},
		{"25", vecPhrase + " zoo", ErrMnemonicWordCount, 0, "this one has 25"},
		{"swapped", strings.Join(swapped, " "), ErrMnemonicChecksum, 0, "right order"},
		{"last replaced", strings.Join(replaced, " "), ErrMnemonicChecksum, 0, "checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMnemonic(tt.in)
			if err == nil {
				t.Fatal("accepted")
			}
			var me *MnemonicError
			if !errors.Is(err, tt.kind) || !errors.As(err, &me) || me.Position != tt.pos {
				t.Fatalf("error %v (%T), want kind %v at %d", err, err, tt.kind, tt.pos)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("%q does not say %q", err, tt.says)
			}
			assertNoWords(t, err.Error(), tt.in)
			if !m.IsZero() {
				t.Error("mnemonic returned with error")
			}
			// The library agrees that it is not a TON phrase.
			if _, err := tonwallet.SeedToPrivateKey(strings.Fields(tt.in), "", false); err == nil && tt.kind != ErrMnemonicEmpty {
				t.Error("tonutils accepts it")
			}
		})
	}
}

// A phrase made for a TON password (tonweb-mnemonic's rule: without the
// password it passes the password-seed check and fails the basic one).
func TestParseMnemonicPasswordProtected(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	list := WordList()
	words := make([]string, 24)
	for {
		for i := range words {
			words[i] = list[r.IntN(len(list))]
		}
		e := tonEntropy([]byte(strings.Join(words, " ")))
		if tonPasswordSeedOK(e) && !tonBasicSeedOK(e) {
			break
		}
	}
	phrase := strings.Join(words, " ")
	_, err := ParseMnemonic(phrase)
	if !errors.Is(err, ErrMnemonicPassword) {
		t.Fatalf("error %v, want ErrMnemonicPassword", err)
	}
	assertNoWords(t, err.Error(), phrase)
}

func TestBIP39(t *testing.T) {
	// TON parsing refuses a BIP-39 phrase and says what it is.
	_, err := ParseMnemonic(bip39Phrase)
	if !errors.Is(err, ErrMnemonicIsBIP39) {
		t.Fatalf("ParseMnemonic(BIP-39) = %v", err)
	}
	assertNoWords(t, err.Error(), bip39Phrase)
	m, err := ParseBIP39Mnemonic(bip39Phrase)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind() != MnemonicBIP39 {
		t.Fatal("kind")
	}
	k, err := m.PrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	a, err := WalletAddress(k.Public(), V5R1, Mainnet)
	if err != nil || a.Display() != bip39V5R1Addr {
		t.Fatalf("BIP-39 V5R1 address %s, want %s (%v)", a.Display(), bip39V5R1Addr, err)
	}
	// Oracle: tonutils-go's own derivation.
	lib, err := tonwallet.SeedToPrivateKey(strings.Fields(bip39Phrase), "", true)
	if err != nil || !bytes.Equal(lib, k.private()) {
		t.Fatalf("tonutils BIP-39 key differs: %v", err)
	}

	// BIP-39 checksums (the reference vectors of the BIP-39 spec).
	abandon := strings.Repeat("abandon ", 11)
	checks := []struct {
		phrase string
		ok     bool
	}{
		{abandon + "about", true},
		{abandon + "abandon", false},
		{strings.Repeat("abandon ", 23) + "art", true},
		{strings.Repeat("zoo ", 11) + "wrong", true},
		{strings.Repeat("zoo ", 23) + "vote", true},
		{"legal winner thank year wave sausage worth useful legal winner thank yellow", true},
		{"letter advice cage absurd amount doctor acoustic avoid letter advice cage above", true},
		{"letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd", false},
		{bip39Phrase, true},
	}
	for _, c := range checks {
		fields := strings.Fields(c.phrase)
		if got := bip39ChecksumOK([]byte(strings.Join(fields, " ")), len(fields)); got != c.ok {
			t.Errorf("bip39ChecksumOK(%q) = %v", c.phrase, got)
		}
	}
	// 12-word BIP-39 phrase through ParseMnemonic: recognized, not "wrong count".
	if _, err := ParseMnemonic(abandon + "about"); !errors.Is(err, ErrMnemonicIsBIP39) {
		t.Errorf("12-word BIP-39 via ParseMnemonic: %v", err)
	}
	if m, err := ParseBIP39Mnemonic(abandon + "about"); err != nil || m.WordCount() != 12 {
		t.Errorf("12-word BIP-39: %v", err)
	}
	if _, err := ParseBIP39Mnemonic(abandon + "abandon"); !errors.Is(err, ErrMnemonicChecksum) {
		t.Errorf("bad BIP-39 checksum: %v", err)
	}
	if _, err := ParseBIP39Mnemonic(abandon); !errors.Is(err, ErrMnemonicWordCount) {
		t.Errorf("11 words: %v", err)
	}
}

func TestNewMnemonic(t *testing.T) {
	m := NewMnemonic()
	if m.WordCount() != 24 || m.Kind() != MnemonicTON {
		t.Fatalf("%d words", m.WordCount())
	}
	again, err := ParseMnemonic(strings.Join(m.Words(), " "))
	if err != nil {
		t.Fatal(err)
	}
	k1, err := m.PrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := again.PrivateKey()
	if err != nil || !bytes.Equal(k1.Public(), k2.Public()) {
		t.Fatal("re-parsed phrase gives another key")
	}
	if n := NewMnemonic(); bytes.Equal(n.AppendPhrase(nil), m.AppendPhrase(nil)) {
		t.Fatal("two new phrases are equal")
	}
}

func TestWordList(t *testing.T) {
	list := WordList()
	if len(list) != 2048 {
		t.Fatalf("%d words", len(list))
	}
	// SHA-256 of the BIP-39 english.txt (one word a line).
	sum := sha256.Sum256([]byte(strings.Join(list, "\n") + "\n"))
	if got := hex.EncodeToString(sum[:]); got != "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda" {
		t.Errorf("word list hash %s", got)
	}
	// tonutils-go knows each word (its unknown-word check passes).
	for _, w := range list {
		seed := make([]string, 12)
		for i := range seed {
			seed[i] = w
		}
		if _, err := tonwallet.SeedToPrivateKey(seed, "", false); err != nil && strings.Contains(err.Error(), "unknown word") {
			t.Fatalf("tonutils does not know %q", w)
		}
		if !IsMnemonicWord(w) {
			t.Fatalf("IsMnemonicWord(%q)", w)
		}
	}
	if IsMnemonicWord("Abandon") || IsMnemonicWord("bitcoin") {
		t.Error("IsMnemonicWord accepts non-words")
	}
	if got := WordsWithPrefix(" ABA "); len(got) != 1 || got[0] != "abandon" {
		t.Errorf("WordsWithPrefix(aba) = %v", got)
	}
	if got := WordsWithPrefix("zo"); strings.Join(got, ",") != "zone,zoo" {
		t.Errorf("WordsWithPrefix(zo) = %v", got)
	}
	if got := WordsWithPrefix("qqq"); len(got) != 0 {
		t.Errorf("WordsWithPrefix(qqq) = %v", got)
	}
}

// secretLeaks prints v every way a program might and reports what
// contained the secret.
func secretLeaks(v any, secret string) []string {
	var leaks []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		if s := fmt.Sprintf(f, v); strings.Contains(s, secret) {
			leaks = append(leaks, f)
		}
		if s := fmt.Sprintf(f, struct{ V any }{v}); strings.Contains(s, secret) {
			leaks = append(leaks, "struct "+f)
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", v)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", v)
	if strings.Contains(buf.String(), secret) {
		leaks = append(leaks, "slog")
	}
	if js, err := json.Marshal(struct{ V any }{v}); err != nil || strings.Contains(string(js), secret) {
		leaks = append(leaks, "json")
	}
	return leaks
}

func TestSecretsRedacted(t *testing.T) {
	m, err := ParseMnemonic(vecPhrase)
	if err != nil {
		t.Fatal(err)
	}
	k := vecKey(t)
	nk, err := ParseNodeKey(vecNodeKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		v      any
		secret string
	}{
		"mnemonic":       {m, "diet"},
		"mnemonic hex":   {m, hex.EncodeToString([]byte("diet"))},
		"owner key":      {k, hex.EncodeToString(k.private()[:8])},
		"owner key b":    {k, fmt.Sprint([]byte(k.private()[:4]))[1:8]},
		"node key b64":   {nk, vecNodeKey[:12]},
		"node key hex":   {nk, hex.EncodeToString(nk.AppendSeed(nil)[:8])},
		"owner w/ key":   {mustOwner(t, k, V4R2, Mainnet), hex.EncodeToString(k.private()[:8])},
		"owner w/ key b": {mustOwner(t, k, V4R2, Mainnet), fmt.Sprint([]byte(k.private()[:4]))[1:8]},
	} {
		if leaks := secretLeaks(c.v, c.secret); len(leaks) > 0 {
			t.Errorf("%s leaks through %v", name, leaks)
		}
		if s := fmt.Sprint(c.v); !strings.Contains(s, "[redacted]") {
			t.Errorf("%s prints %q", name, s)
		}
	}
}

// A caller that keeps secrets in unexported fields of its own struct and
// prints that struct: fmt reaches them only by reflection, which must not
// find the bytes either.
func TestSecretsRedactedInUnexportedFields(t *testing.T) {
	m, _ := ParseMnemonic(vecPhrase)
	k := vecKey(t)
	nk, _ := ParseNodeKey(vecNodeKey)
	type holder struct {
		m  Mnemonic
		k  OwnerKey
		nk NodeKey
		o  Owner
		p  *Owner
	}
	o := mustOwner(t, k, V5R1, Mainnet)
	h := holder{m: m, k: k, nk: nk, o: o, p: &o}
	seed := nk.AppendSeed(nil)
	secrets := []string{"diet", "whisper", vecNodeKey[:10],
		hex.EncodeToString(k.private()[:6]), hex.EncodeToString(seed[:6]),
		strings.Trim(fmt.Sprint([]byte(k.private()[:3])), "[]"), strings.Trim(fmt.Sprint(seed[:3]), "[]")}
	for _, v := range []any{h, &h, []holder{h}, map[string]holder{"a": h}} {
		for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			out := fmt.Sprintf(f, v)
			for _, sec := range secrets {
				if strings.Contains(out, sec) {
					t.Errorf("%s of %T shows %q: %s", f, v, sec, out)
				}
			}
		}
	}
}

func TestMnemonicZero(t *testing.T) {
	m, err := ParseMnemonic(vecPhrase)
	if err != nil {
		t.Fatal(err)
	}
	copyOfM := m
	buf := m.data().phrase[:cap(m.data().phrase)]
	m.Zero()
	if !copyOfM.IsZero() || copyOfM.WordCount() != 0 || copyOfM.Words() != nil || len(copyOfM.AppendPhrase(nil)) != 0 {
		t.Error("a copy still holds the phrase")
	}
	if bytes.ContainsAny(buf, "abcdefghijklmnopqrstuvwxyz") {
		t.Error("buffer not wiped")
	}
	if _, err := m.PrivateKey(); err == nil {
		t.Error("zeroed mnemonic derives a key")
	}
	var zero Mnemonic
	zero.Zero()
	if !zero.IsZero() {
		t.Error("zero value")
	}

	k, err := NewOwnerKey(vecKey(t).private())
	if err != nil {
		t.Fatal(err)
	}
	kb := k.data().priv
	k2 := k
	k.Zero()
	if !k2.IsZero() || k2.Public() != nil || !bytes.Equal(kb, make([]byte, len(kb))) {
		t.Error("owner key not wiped")
	}
}
