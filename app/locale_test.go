package app

import (
	"testing"
	"time"

	"fyne.io/fyne/v2"
)

func TestLocaleFormats(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 30, 5, 0, time.UTC) // a Monday
	for _, tc := range []struct {
		code                   string
		num, big, ton, neg     string
		dateTime, dayTime, clk string
		align                  fyne.TextAlign
	}{
		{"en", "0.52", "12345.5", "1234.5 TON", "-0.25", "Mon 23 Nov 09:30", "Mon 09:30", "09:30:05", fyne.TextAlignLeading},
		{"ru", "0,52", "12\u00a0345,5", "1234,5 TON", "-0,25", "пн 23 нояб. 09:30", "пн 09:30", "09:30:05", fyne.TextAlignLeading},
		{"uk", "0,52", "12\u00a0345,5", "1234,5 TON", "-0,25", "пн 23 лист. 09:30", "пн 09:30", "09:30:05", fyne.TextAlignLeading},
		{"fr", "0,52", "12\u202f345,5", "1234,5 TON", "-0,25", "lun. 23 nov. 09:30", "lun. 09:30", "09:30:05", fyne.TextAlignLeading},
		{"ar", "0.52", "12345.5", "1234.5 TON", "-0.25", "الاثنين 23 نوفمبر 09:30", "الاثنين 09:30", "09:30:05", fyne.TextAlignTrailing},
	} {
		t.Run(tc.code, func(t *testing.T) {
			withLocale(t, tc.code)
			l := currentLocale()
			if l.code != tc.code {
				t.Fatalf("locale %q, want %q", l.code, tc.code)
			}
			for _, c := range []struct{ got, want string }{
				{l.num(0.5249, 2), tc.num}, {l.num(12345.5, 1), tc.big}, {l.ton(1_234_500_000_000), tc.ton}, {l.num(-0.25, 2), tc.neg},
				{l.dateTime(at), tc.dateTime}, {l.dayTime(at), tc.dayTime}, {l.clock(at, true), tc.clk},
			} {
				if c.got != c.want {
					t.Errorf("got %q, want %q", c.got, c.want)
				}
			}
			if l.align() != tc.align {
				t.Errorf("align %v, want %v", l.align(), tc.align)
			}
		})
	}
}

// TestLocalesComplete: every shipped language has its formats.
func TestLocalesComplete(t *testing.T) {
	for _, code := range languages {
		l, ok := locales[code]
		if !ok || l.code != code || l.decimal == "" {
			t.Errorf("%s: no formats", code)
		}
		for _, s := range append(l.days[:], l.months[:]...) {
			if s == "" {
				t.Errorf("%s: a day or month without a name", code)
			}
		}
		if tr := readTranslations(t, code); tr["locale.code"] != code {
			t.Errorf("%s.json: locale.code is %q", code, tr["locale.code"])
		}
	}
}
