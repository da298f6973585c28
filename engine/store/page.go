package store

// Page sizes for Events and Ledger.
const (
	// DefaultPageSize is the page size used for a limit of zero or less.
	DefaultPageSize = 1000
	// MaxPageSize caps a larger limit.
	MaxPageSize = 10000
)

// pageSize applies DefaultPageSize and MaxPageSize to limit.
func pageSize(limit int) int {
	switch {
	case limit <= 0:
		return DefaultPageSize
	case limit > MaxPageSize:
		return MaxPageSize
	}
	return limit
}
