// Package synth is the stand-in worker's SYNTHETIC text generator: a tiny
// recurrent network with fixed pseudo-random weights that produces
// plausible-looking nonsense from a vocabulary of generated pseudo-words.
// It is not a language model of anything; its text means nothing. Its
// model name (ModelName) says so, and callers must label its output
// synthetic wherever they show it.
//
// What it does model faithfully is the shape of the work an inference
// server does, so the dev-mode VM has real, CPU-bound load to account for:
//
//   - prefill: every prompt token runs through the recurrent step
//     h' = tanh(A·h + E[tok]) (Dim² multiply-adds per token);
//   - decode: each generated token costs the recurrent step plus the
//     output projection logits = W·h' (VocabSize·Dim multiply-adds) and a
//     softmax, then seeded sampling; about 70 000 multiply-adds a token,
//     tens of microseconds on one core, with no sleeps;
//   - a prefix cache: the hidden state after each 16-token block of a
//     prompt is kept in a bounded LRU keyed by a hash of the token prefix,
//     so a repeated prompt skips the prefill of its cached blocks and the
//     usage reports them as cached tokens;
//   - reasoning: a request may ask for reasoning tokens, generated first
//     and counted inside the completion tokens, as OpenAI's usage does.
//
// Privacy: the generator emits only words of its own vocabulary (lowercase
// ASCII pseudo-words, the first letter of a sentence capitalized) and a few
// punctuation marks. Prompt words are mapped to token ids (vocabulary
// words by lookup, any other word by an FNV hash) and are never copied to
// the output: a prompt word that is not a vocabulary word never appears in
// the text as a word, and one with a digit, a non-ASCII letter or a capital
// after its first letter never appears in it at all. A prompt made of
// vocabulary words may of course be answered with some of the same words.
//
// Determinism: the weights come from a constant seed, and all arithmetic
// is float32 with explicit rounding (no fused multiply-add) and
// hand-written exp and tanh, so the same request against the same cache
// state gives the same text on every machine and architecture. The only
// shared mutable state is the prefix cache, which changes which prompt
// tokens are recomputed, never the result.
//
// The package uses only the standard library (plus engine/worker for the
// Usage type), because it is compiled into the guest agent.
package synth
