package wallet

import (
	"bytes"
	"errors"
	"sync"
)

// PassphraseStore keeps keystore passphrases outside the keystore, so that a
// headless service can open its keystore at start-up without asking. It is
// optional: with no store, the user types the passphrase. The id names which
// keystore the passphrase is for (its path, say). Get returns a copy the
// caller clears; Set copies p; Delete of an id with nothing stored is not an
// error.
type PassphraseStore interface {
	Get(id string) ([]byte, error)
	Set(id string, p []byte) error
	Delete(id string) error
}

// ErrPassphraseNotStored is what PassphraseStore.Get returns when nothing is
// stored under the id.
var ErrPassphraseNotStored = errors.New("no passphrase is stored for this keystore")

// MemoryPassphraseStore is a PassphraseStore in process memory, for tests
// and for remembering a passphrase for the length of one run.
type MemoryPassphraseStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

var _ PassphraseStore = (*MemoryPassphraseStore)(nil)

// NewMemoryPassphraseStore returns an empty store.
func NewMemoryPassphraseStore() *MemoryPassphraseStore {
	return &MemoryPassphraseStore{m: map[string][]byte{}}
}

// Get returns a copy of the passphrase stored under id.
func (s *MemoryPassphraseStore) Get(id string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.m[id]
	if !ok {
		return nil, ErrPassphraseNotStored
	}
	return bytes.Clone(p), nil
}

// Set stores a copy of p under id, wiping what was there.
func (s *MemoryPassphraseStore) Set(id string, p []byte) error {
	if len(p) == 0 {
		return ErrEmptyPassphrase
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.m[id])
	s.m[id] = bytes.Clone(p)
	return nil
}

// Delete wipes and forgets the passphrase stored under id.
func (s *MemoryPassphraseStore) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.m[id])
	delete(s.m, id)
	return nil
}

// Close wipes every stored passphrase.
func (s *MemoryPassphraseStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, p := range s.m {
		clear(p)
		delete(s.m, id)
	}
	return nil
}
