package app

import (
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/lang"

	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// locale is how one language writes numbers and dates. The app writes
// every digit in Western (ASCII) form, Arabic included: amounts, PCI
// addresses, hashes and commands the user copies stay as the engine and
// the wallets write them.
type locale struct {
	code string
	// decimal separates the fraction; group separates thousands in
	// whole parts of five digits or more ("" for none).
	decimal, group string
	// days are the short day names from Sunday; months the short month
	// names from January.
	days   [7]string
	months [12]string
	// rtl says the language is written right to left.
	rtl bool
}

// locales are the formats of the languages the app ships, by code.
//
// English keeps the app's earlier formats (no grouping) so that its
// texts stay as they were. Arabic keeps Western digits with "." as the
// decimal separator: the one CLDR gives Arabic with Latin digits
// (the "٫" separator goes with Arabic-Indic digits), and the one the
// TON wallets the user compares amounts with write.
var locales = map[string]locale{
	"en": {code: "en", decimal: ".",
		days:   [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"},
		months: [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}},
	"ru": {code: "ru", decimal: ",", group: "\u00a0",
		days:   [7]string{"вс", "пн", "вт", "ср", "чт", "пт", "сб"},
		months: [12]string{"янв.", "февр.", "мар.", "апр.", "мая", "июн.", "июл.", "авг.", "сент.", "окт.", "нояб.", "дек."}},
	"uk": {code: "uk", decimal: ",", group: "\u00a0",
		days:   [7]string{"нд", "пн", "вт", "ср", "чт", "пт", "сб"},
		months: [12]string{"січ.", "лют.", "бер.", "квіт.", "трав.", "черв.", "лип.", "серп.", "вер.", "жовт.", "лист.", "груд."}},
	"fr": {code: "fr", decimal: ",", group: "\u202f",
		days:   [7]string{"dim.", "lun.", "mar.", "mer.", "jeu.", "ven.", "sam."},
		months: [12]string{"janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."}},
	"ar": {code: "ar", decimal: ".",
		days:   [7]string{"الأحد", "الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت"},
		months: [12]string{"يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر"}, rtl: true},
}

// currentLocale is the locale of the language Fyne translates into: each
// translation file names its language under "locale.code", so the
// formats follow the texts, the Settings tab's choice included.
func currentLocale() locale {
	if l, ok := locales[lang.X("locale.code", "en")]; ok {
		return l
	}
	return locales["en"]
}

// num writes x with prec decimals.
func (l locale) num(x float64, prec int) string {
	return l.localise(strconv.FormatFloat(x, 'f', prec, 64))
}

// int writes a whole number.
func (l locale) int(n int64) string { return l.localise(strconv.FormatInt(n, 10)) }

// ton writes an amount of nanoTON with its unit: "0,52 TON".
func (l locale) ton(nano int64) string { return l.localise(wallet.FormatTON(nano)) + " TON" }

// localise rewrites a number written in Go's form ("-1234.5") in the
// locale's separators.
func (l locale) localise(s string) string {
	sign, digits := "", s
	if strings.HasPrefix(digits, "-") {
		sign, digits = "-", digits[1:]
	}
	whole, frac, hasFrac := strings.Cut(digits, ".")
	if l.group != "" && len(whole) >= 5 {
		var b strings.Builder
		for i, r := range whole {
			if i > 0 && (len(whole)-i)%3 == 0 {
				b.WriteString(l.group)
			}
			b.WriteRune(r)
		}
		whole = b.String()
	}
	if hasFrac {
		return sign + whole + l.decimal + frac
	}
	return sign + whole
}

// clock writes a time of day: "15:04" (seconds too when withSeconds).
// Every shipped language writes the 24-hour clock.
func (l locale) clock(t time.Time, withSeconds bool) string {
	if withSeconds {
		return t.Format("15:04:05")
	}
	return t.Format("15:04")
}

// dayTime writes a day of the week and a time: "Mon 15:04".
func (l locale) dayTime(t time.Time) string {
	return l.days[t.Weekday()] + " " + l.clock(t, false)
}

// dateTime writes a date with its day of the week and the time:
// "Mon 2 Jan 15:04".
func (l locale) dateTime(t time.Time) string {
	return l.days[t.Weekday()] + " " + strconv.Itoa(t.Day()) + " " + l.months[t.Month()-1] + " " + l.clock(t, false)
}

// align is the alignment of running text: trailing (right) in a
// right-to-left language, since Fyne lays text out left to right.
func (l locale) align() fyne.TextAlign {
	if l.rtl {
		return fyne.TextAlignTrailing
	}
	return fyne.TextAlignLeading
}
