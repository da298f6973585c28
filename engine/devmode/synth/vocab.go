package synth

import (
	"slices"
	"unicode"
	"unicode/utf8"
)

// punctMark is a punctuation token: ids 0..numPunct−1 of the vocabulary.
type punctMark struct {
	text         string
	bias         float32 // added to its logit: how often it is sampled
	endsSentence bool    // ends a sentence: the next word is capitalized
}

// punctuation are the vocabulary's first tokens. The biases give roughly
// one sentence end per dozen words and a comma every ten (measured over
// generated text, not derived).
var punctuation = [...]punctMark{
	{".", 2.8, true},
	{",", 3.5, false},
	{"?", 0.6, true},
	{"!", -0.3, true},
	{";", -0.4, false},
}

const numPunct = len(punctuation)

// Pseudo-word building blocks. Words are 1–3 syllables of onset, vowel
// and coda; they are lowercase ASCII letters only.
var (
	onsets = []string{"", "", "b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
		"br", "dr", "kr", "st", "th", "sh", "ch", "tr", "pl", "gr"}
	vowels = []string{"a", "e", "i", "o", "u", "a", "e", "o", "ai", "ea", "ou", "io", "ee"}
	codas  = []string{"", "", "", "", "n", "r", "s", "l", "m", "nd", "st", "th"}
)

// vocabulary is the token table: texts by id and ids of the words.
type vocabulary struct {
	words []string         // VocabSize texts; punctuation first
	ids   map[string]int32 // pseudo-word → id (punctuation is not looked up here)
}

// newVocabulary generates VocabSize−numPunct distinct pseudo-words from
// rng, in a fixed order.
func newVocabulary(rng *splitMix) *vocabulary {
	v := &vocabulary{words: make([]string, 0, VocabSize), ids: make(map[string]int32, VocabSize)}
	for _, p := range punctuation {
		v.words = append(v.words, p.text)
	}
	var b []byte
	for len(v.words) < VocabSize {
		b = b[:0]
		syl := 1 // 30 % one syllable, 50 % two, 20 % three
		switch x := rng.intN(10); {
		case x >= 8:
			syl = 3
		case x >= 3:
			syl = 2
		}
		for range syl {
			b = append(b, onsets[rng.intN(len(onsets))]...)
			b = append(b, vowels[rng.intN(len(vowels))]...)
			b = append(b, codas[rng.intN(len(codas))]...)
		}
		w := string(b)
		if len(w) < 2 {
			continue
		}
		if _, dup := v.ids[w]; dup {
			continue
		}
		v.ids[w] = 0
		v.words = append(v.words, w)
	}
	// Shorter words first: low ids get the highest frequency (zipfBias).
	slices.SortStableFunc(v.words[numPunct:], func(a, b string) int { return len(a) - len(b) })
	for i, w := range v.words[numPunct:] {
		v.ids[w] = int32(numPunct + i)
	}
	return v
}

// tokenize splits s into tokens: runs of letters and digits are words,
// every other non-space rune is a token of its own. A word (lowercased)
// or mark in the vocabulary maps to its id, anything else to its FNV-1a
// hash modulo VocabSize. tokens is reused when it has room.
func (v *vocabulary) tokenize(s string, tokens []int32) []int32 {
	tokens = tokens[:0]
	var word []byte
	flush := func() {
		if len(word) > 0 {
			tokens = append(tokens, v.lookup(word))
			word = word[:0]
		}
	}
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			word = utf8.AppendRune(word, unicode.ToLower(r))
		case unicode.IsSpace(r):
			flush()
		default:
			flush()
			tokens = append(tokens, v.mark(r))
		}
	}
	flush()
	return tokens
}

// lookup returns the id of a lowercased word.
func (v *vocabulary) lookup(word []byte) int32 {
	if id, ok := v.ids[string(word)]; ok { // no allocation for the lookup
		return id
	}
	return hashID(word)
}

// mark returns the id of a punctuation or symbol rune.
func (v *vocabulary) mark(r rune) int32 {
	for i, p := range punctuation {
		if len(p.text) == 1 && rune(p.text[0]) == r {
			return int32(i)
		}
	}
	return hashID(utf8.AppendRune(nil, r))
}

// FNV-1a, 64 bit.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// hashID maps a word the vocabulary lacks to an id: FNV-1a 64 of its
// UTF-8 bytes modulo VocabSize.
func hashID(b []byte) int32 {
	h := uint64(fnvOffset)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return int32(h % VocabSize)
}
