package wallet

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// NanoPerTON is the number of nanoTON in one TON.
const NanoPerTON = 1_000_000_000

// FormatTON prints a nanoTON amount in TON with up to 9 decimals and no
// trailing zeros: 2100000000 → "2.1", 1 → "0.000000001", −500000000 →
// "-0.5". It never rounds.
func FormatTON(nano int64) string {
	neg := nano < 0
	u := uint64(nano)
	if neg {
		u = -u // two's complement: also right for math.MinInt64
	}
	whole := u / NanoPerTON
	frac := u % NanoPerTON
	s := strconv.FormatUint(whole, 10)
	if frac != 0 {
		f := fmt.Sprintf("%09d", frac)
		s += "." + strings.TrimRight(f, "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Sentinel kinds of amount errors; ParseTON's errors wrap one of them and
// say what to type instead.
var (
	ErrAmountEmpty     = errors.New("empty amount")
	ErrAmountSyntax    = errors.New("malformed amount")
	ErrAmountComma     = errors.New("comma in amount")
	ErrAmountNegative  = errors.New("negative amount")
	ErrAmountPrecision = errors.New("more than 9 decimals")
	ErrAmountOverflow  = errors.New("amount too large")
)

// ParseTON reads an amount of TON as a user types it ("1", "0.5", ".5",
// "2.", "1.000000001", optionally followed by "TON") and returns nanoTON.
// It refuses, with a message that says what to type: commas (as decimal
// or thousands separator), a sign other than none, more than 9 decimals
// (below 1 nanoTON), exponents and amounts beyond int64 nanoTON.
func ParseTON(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if len(s) >= 3 && strings.EqualFold(s[len(s)-3:], "ton") {
		s = strings.TrimSpace(s[:len(s)-3])
	}
	if s == "" {
		return 0, fmt.Errorf("%w: enter an amount in TON, such as 1.5", ErrAmountEmpty)
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%w: an amount cannot be negative: enter it without '-'", ErrAmountNegative)
	}
	if strings.Contains(s, ",") {
		return 0, fmt.Errorf("%w: use a dot for decimals and no thousands separators: 1.5 or 1000, not 1,5 or 1,000", ErrAmountComma)
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if hasDot && whole == "" && frac == "" || strings.Contains(frac, ".") {
		return 0, fmt.Errorf("%w: %q is not an amount: use digits and at most one dot, such as 1.5", ErrAmountSyntax, printable(s))
	}
	for _, part := range []string{whole, frac} {
		for _, r := range part {
			if r < '0' || r > '9' {
				return 0, fmt.Errorf("%w: %q is not an amount: use digits and at most one dot, such as 1.5", ErrAmountSyntax, printable(s))
			}
		}
	}
	if len(frac) > 9 {
		if strings.TrimRight(frac[9:], "0") != "" {
			return 0, fmt.Errorf("%w: TON has 9 decimal places (1 nanoTON = 0.000000001); shorten the decimals", ErrAmountPrecision)
		}
		frac = frac[:9]
	}
	whole = strings.TrimLeft(whole, "0")
	var w uint64
	if whole != "" {
		var err error
		w, err = strconv.ParseUint(whole, 10, 64)
		if err != nil || w > math.MaxInt64/NanoPerTON {
			return 0, fmt.Errorf("%w: at most %s TON", ErrAmountOverflow, FormatTON(math.MaxInt64))
		}
	}
	var f uint64
	if frac != "" {
		f, _ = strconv.ParseUint(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	total := w*NanoPerTON + f
	if total > math.MaxInt64 {
		return 0, fmt.Errorf("%w: at most %s TON", ErrAmountOverflow, FormatTON(math.MaxInt64))
	}
	return int64(total), nil
}

// TONString is FormatTON with the unit, as the app shows amounts:
// 2100000000 → "2.1 TON".
func TONString(nano int64) string { return FormatTON(nano) + " TON" }
