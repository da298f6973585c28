package synth

import (
	"container/list"
	"sync"
)

// Prefix cache shape.
const (
	BlockSize        = 16  // prompt tokens per cached block
	DefaultCacheSize = 256 // hidden states kept (Dim float32s each)
)

// prefixKey names the state after a prompt's first n tokens (n a multiple
// of BlockSize): n and an FNV-1a hash of those token ids. A 64-bit
// collision would only make a request continue from another prompt's
// state, and that only changes synthetic text.
type prefixKey struct {
	n    int
	hash uint64
}

// prefixHashes returns the keys of every whole block of tokens, shortest
// first.
func prefixHashes(tokens []int32) []prefixKey {
	keys := make([]prefixKey, 0, len(tokens)/BlockSize)
	h := uint64(fnvOffset)
	for i, t := range tokens {
		for shift := 0; shift < 32; shift += 8 {
			h ^= uint64((uint32(t) >> shift) & 0xff)
			h *= fnvPrime
		}
		if (i+1)%BlockSize == 0 {
			keys = append(keys, prefixKey{n: i + 1, hash: h})
		}
	}
	return keys
}

// prefixCache is a bounded LRU of hidden states; safe for concurrent use.
// Stored states are never modified.
type prefixCache struct {
	mu      sync.Mutex
	max     int
	order   *list.List // of *cacheEntry, most recently used first
	entries map[prefixKey]*list.Element
}

type cacheEntry struct {
	key prefixKey
	h   []float32
}

func newPrefixCache(size int) *prefixCache {
	return &prefixCache{max: size, order: list.New(), entries: make(map[prefixKey]*list.Element, size)}
}

// longest returns the longest cached prefix among keys (shortest first)
// and its state, marking it used; ok is false when none is cached.
func (c *prefixCache) longest(keys []prefixKey) (n int, h []float32, ok bool) {
	if c.max <= 0 {
		return 0, nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(keys) - 1; i >= 0; i-- {
		if el, hit := c.entries[keys[i]]; hit {
			c.order.MoveToFront(el)
			e := el.Value.(*cacheEntry)
			return e.key.n, e.h, true
		}
	}
	return 0, nil, false
}

// put stores a copy of h under key, evicting the least recently used
// state when full.
func (c *prefixCache) put(key prefixKey, h []float32) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok { // a concurrent request got here first
		c.order.MoveToFront(el)
		return
	}
	if c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
	}
	c.entries[key] = c.order.PushFront(&cacheEntry{key: key, h: append([]float32(nil), h...)})
}

// len returns the number of cached states.
func (c *prefixCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
