package wallet

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/xssnick/tonutils-go/tlb"
)

func TestFormatTON(t *testing.T) {
	for nano, want := range map[int64]string{
		0:                    "0",
		1:                    "0.000000001",
		10:                   "0.00000001",
		500_000_000:          "0.5",
		1_000_000_000:        "1",
		2_100_000_000:        "2.1",
		1_234_567_891:        "1.234567891",
		-500_000_000:         "-0.5",
		-1:                   "-0.000000001",
		math.MaxInt64:        "9223372036.854775807",
		math.MinInt64:        "-9223372036.854775808",
		100 * NanoPerTON:     "100",
		100*NanoPerTON + 100: "100.0000001",
	} {
		if got := FormatTON(nano); got != want {
			t.Errorf("FormatTON(%d) = %s, want %s", nano, got, want)
		}
		// Agrees with tonutils-go for non-negative amounts.
		if nano >= 0 {
			if lib := tlb.FromNanoTONU(uint64(nano)).String(); lib != want {
				t.Errorf("tonutils prints %d as %s, we %s", nano, lib, want)
			}
		}
	}
}

func TestParseTON(t *testing.T) {
	good := map[string]int64{
		"0":                    0,
		"1":                    NanoPerTON,
		" 2.1 ":                2_100_000_000,
		"0.5":                  500_000_000,
		".5":                   500_000_000,
		"5.":                   5 * NanoPerTON,
		"0.000000001":          1,
		"1.000000000":          NanoPerTON,
		"1.5000000000":         1_500_000_000, // trailing zeros beyond 9 decimals are exact
		"007":                  7 * NanoPerTON,
		"2.1 TON":              2_100_000_000,
		"3ton":                 3 * NanoPerTON,
		"9223372036.854775807": math.MaxInt64,
		"9223372036":           9_223_372_036 * NanoPerTON,
		"0.050":                50_000_000,
	}
	for in, want := range good {
		got, err := ParseTON(in)
		if err != nil || got != want {
			t.Errorf("ParseTON(%q) = %d, %v; want %d", in, got, err, want)
		}
		if err == nil {
			back, err := ParseTON(FormatTON(got))
			if err != nil || back != got {
				t.Errorf("round trip %q", in)
			}
		}
	}
	bad := []struct {
		in   string
		kind error
		says string
	}{
		{"", ErrAmountEmpty, "enter an amount"},
		{"  TON", ErrAmountEmpty, "enter"},
		{"-1", ErrAmountNegative, "cannot be negative"},
		{"-0.5", ErrAmountNegative, "negative"},
		{"1,5", ErrAmountComma, "1.5 or 1000"},
		{"1,000", ErrAmountComma, "thousands separators"},
		{"1,000.5", ErrAmountComma, "dot"},
		{"0.0000000001", ErrAmountPrecision, "9 decimal places"},
		{"1.1234567891", ErrAmountPrecision, "9 decimal"},
		{"9223372036.854775808", ErrAmountOverflow, "at most 9223372036.854775807 TON"},
		{"9223372037", ErrAmountOverflow, "at most"},
		{"99999999999999999999999", ErrAmountOverflow, "at most"},
		{"1e9", ErrAmountSyntax, "not an amount"},
		{"+1", ErrAmountSyntax, "not an amount"},
		{"1.2.3", ErrAmountSyntax, "at most one dot"},
		{".", ErrAmountSyntax, "not an amount"},
		{"1 000", ErrAmountSyntax, "not an amount"},
		{"abc", ErrAmountSyntax, "not an amount"},
		{"0x10", ErrAmountSyntax, "not an amount"},
		{"١", ErrAmountSyntax, "not an amount"},
		{"NaN", ErrAmountSyntax, "not an amount"},
	}
	for _, tt := range bad {
		got, err := ParseTON(tt.in)
		if err == nil || !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("ParseTON(%q) = %d, %v; want %v saying %q", tt.in, got, err, tt.kind, tt.says)
		}
	}
}
