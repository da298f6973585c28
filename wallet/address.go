package wallet

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sigurn/crc16"
	"github.com/xssnick/tonutils-go/address"
)

// Network is TON mainnet or testnet. It decides which address flags are
// accepted and the V5R1 wallet id (network global id −239 or −3).
type Network uint8

const (
	Mainnet Network = iota
	Testnet
)

// Network global ids (TON config param 19), used by V5R1 wallets.
const (
	MainnetGlobalID int32 = -239
	TestnetGlobalID int32 = -3
)

// String returns "mainnet" or "testnet".
func (n Network) String() string {
	if n == Testnet {
		return "testnet"
	}
	return "mainnet"
}

// GlobalID returns the network global id: −239 for mainnet, −3 for testnet.
func (n Network) GlobalID() int32 {
	if n == Testnet {
		return TestnetGlobalID
	}
	return MainnetGlobalID
}

// MarshalText writes "mainnet" or "testnet".
func (n Network) MarshalText() ([]byte, error) { return []byte(n.String()), nil }

// UnmarshalText reads what ParseNetwork accepts.
func (n *Network) UnmarshalText(b []byte) error {
	v, err := ParseNetwork(string(b))
	if err != nil {
		return err
	}
	*n = v
	return nil
}

// ParseNetwork reads "mainnet" or "testnet" (any case).
func ParseNetwork(s string) (Network, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "mainnet":
		return Mainnet, nil
	case "testnet":
		return Testnet, nil
	}
	return Mainnet, fmt.Errorf("network %q: want mainnet or testnet", s)
}

// AddressForm records how an address was written.
type AddressForm uint8

const (
	// FormComputed: derived by the app (a wallet or contract address), not typed.
	FormComputed AddressForm = iota
	// FormRaw: "wc:64hex".
	FormRaw
	// FormBase64URL: the 48-character user-friendly form with '-' and '_'.
	FormBase64URL
	// FormBase64Std: the same with standard base64 '+' and '/'.
	FormBase64Std
)

// String names the form.
func (f AddressForm) String() string {
	switch f {
	case FormRaw:
		return "raw"
	case FormBase64URL:
		return "user-friendly"
	case FormBase64Std:
		return "user-friendly (standard base64)"
	}
	return "computed"
}

// User-friendly address tag bytes.
const (
	tagBounceable    byte = 0x11
	tagNonBounceable byte = 0x51
	tagTestnetOnly   byte = 0x80
)

// Workchain ids that exist on TON.
const (
	BasechainID   int8 = 0
	MasterchainID int8 = -1
)

// userFriendlyLen is the length of a user-friendly address: base64 of
// 36 bytes (tag, workchain, 32-byte hash, CRC16).
const userFriendlyLen = 48

// Address is a standard TON address (workchain + 256-bit account id) with
// the flags it was written with. The zero value is "no address".
//
// Bounceable and TestnetOnly are the flags the user typed (or that the app
// set for a computed address). A raw "wc:hex" address carries no flags:
// it parses as bounceable (the TON convention, as tonutils-go's
// ParseRawAddr does), testnet-only when parsed for Testnet.
type Address struct {
	hash       [32]byte
	workchain  int8
	bounceable bool
	testnet    bool
	form       AddressForm
	set        bool
}

// NewAddress returns a computed address with the given flags.
func NewAddress(workchain int8, hash [32]byte, bounceable, testnetOnly bool) Address {
	return Address{hash: hash, workchain: workchain, bounceable: bounceable, testnet: testnetOnly, form: FormComputed, set: true}
}

// AddressFromTonutils converts a tonutils-go standard address, keeping
// its flags.
func AddressFromTonutils(a *address.Address) (Address, error) {
	if a == nil || a.Type() != address.StdAddress || len(a.Data()) != 32 {
		return Address{}, errors.New("not a standard TON address (addr_std with a 256-bit hash)")
	}
	wc := a.Workchain()
	if wc < -128 || wc > 127 {
		return Address{}, fmt.Errorf("workchain %d out of range", wc)
	}
	return NewAddress(int8(wc), [32]byte(a.Data()), a.IsBounceable(), a.IsTestnetOnly()), nil
}

// IsZero reports whether a holds no address.
func (a Address) IsZero() bool { return !a.set }

// Workchain returns the workchain id (0 basechain, −1 masterchain).
func (a Address) Workchain() int8 { return a.workchain }

// Hash returns the 256-bit account id.
func (a Address) Hash() [32]byte { return a.hash }

// Bounceable reports the bounceable flag as typed (true for raw input).
func (a Address) Bounceable() bool { return a.bounceable }

// TestnetOnly reports the testnet-only flag as typed.
func (a Address) TestnetOnly() bool { return a.testnet }

// Form reports how the address was written.
func (a Address) Form() AddressForm { return a.form }

// Equal reports whether a and b name the same account (workchain and
// hash; flags and form do not matter).
func (a Address) Equal(b Address) bool {
	return a.set == b.set && a.workchain == b.workchain && a.hash == b.hash
}

// Raw returns "wc:hex" with lower-case hex, or "" for the zero Address.
func (a Address) Raw() string {
	if !a.set {
		return ""
	}
	return strconv.Itoa(int(a.workchain)) + ":" + hex.EncodeToString(a.hash[:])
}

// UserFriendly returns the 48-character base64url form with the given
// flags (EQ/UQ on mainnet, kQ/0Q testnet-only for workchain 0), or "" for
// the zero Address.
func (a Address) UserFriendly(bounceable, testnetOnly bool) string {
	if !a.set {
		return ""
	}
	var b [36]byte
	b[0] = tagBounceable
	if !bounceable {
		b[0] = tagNonBounceable
	}
	if testnetOnly {
		b[0] |= tagTestnetOnly
	}
	b[1] = byte(a.workchain)
	copy(b[2:34], a.hash[:])
	binary.BigEndian.PutUint16(b[34:], crc16.Checksum(b[:34], xmodem))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Display returns the form TON wallets show for a wallet: non-bounceable
// (UQ…, or 0Q… when testnet-only).
func (a Address) Display() string { return a.UserFriendly(false, a.testnet) }

// AsTyped returns the address in the form and with the flags it was
// written with (the raw form for raw input; base64url for either base64
// alphabet).
func (a Address) AsTyped() string {
	if a.form == FormRaw {
		return a.Raw()
	}
	return a.UserFriendly(a.bounceable, a.testnet)
}

// String is Display.
func (a Address) String() string { return a.Display() }

// Tonutils returns the tonutils-go address with the same flags, or nil
// for the zero Address.
func (a Address) Tonutils() *address.Address {
	if !a.set {
		return nil
	}
	var flags byte = tagBounceable
	if !a.bounceable {
		flags = tagNonBounceable
	}
	if a.testnet {
		flags |= tagTestnetOnly
	}
	h := a.hash
	return address.NewAddress(flags, byte(a.workchain), h[:])
}

// WithFlags returns a copy of a with the given flags.
func (a Address) WithFlags(bounceable, testnetOnly bool) Address {
	a.bounceable, a.testnet = bounceable, testnetOnly
	return a
}

// MarshalText writes the user-friendly form with the flags as typed, so
// that workchain, hash and flags survive a round trip.
func (a Address) MarshalText() ([]byte, error) {
	return []byte(a.UserFriendly(a.bounceable, a.testnet)), nil
}

// UnmarshalText reads any form ParseAnyAddress accepts; an empty text is
// the zero Address.
func (a *Address) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*a = Address{}
		return nil
	}
	p, err := ParseAnyAddress(string(b))
	if err != nil {
		return err
	}
	*a = p
	return nil
}

// Warnings lists what a user should know about a parsed address on net
// that is not an error: a mainnet-form address used on testnet.
func (a Address) Warnings(net Network) []string {
	var w []string
	if a.form == FormBase64URL || a.form == FormBase64Std {
		if net == Testnet && !a.testnet {
			w = append(w, "this is a mainnet-form address (UQ…/EQ…) but the app is set to testnet; check that it is your testnet wallet")
		}
	}
	return w
}

// Sentinel kinds of address errors; every error from ParseAddress wraps
// exactly one of them (test with errors.Is) in an *AddressError whose text
// says what to do.
var (
	ErrAddressEmpty       = errors.New("empty address")
	ErrAddressNotAddress  = errors.New("not an address")
	ErrAddressLength      = errors.New("wrong address length")
	ErrAddressNotBase64   = errors.New("address is not base64")
	ErrAddressPadding     = errors.New("address has base64 padding")
	ErrAddressChecksum    = errors.New("address checksum mismatch")
	ErrAddressFlags       = errors.New("unknown address flags")
	ErrAddressRawFormat   = errors.New("malformed raw address")
	ErrAddressWorkchain   = errors.New("wrong workchain")
	ErrAddressTestnetOnly = errors.New("testnet address on mainnet")
)

// AddressError is a user-facing address parse error.
type AddressError struct {
	Kind error  // one of the ErrAddress* sentinels
	Msg  string // what is wrong and what to do
}

func (e *AddressError) Error() string { return e.Msg }
func (e *AddressError) Unwrap() error { return e.Kind }

func addrErr(kind error, format string, args ...any) error {
	return &AddressError{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// ParseAddress reads an owner wallet address as a user typed or pasted
// it, on net. It accepts the 48-character user-friendly form in base64url
// (EQ…/UQ…, kQ…/0Q… on testnet) or standard base64 ('+', '/'), and the raw
// form "0:<64 hex digits>" in either case. Whitespace anywhere in the input
// (leading, trailing, or line breaks from copy-paste) and zero-width
// characters are ignored. It requires a valid CRC16 checksum, a known flags
// byte (0x11, 0x51, 0x91, 0xD1), workchain 0, and refuses testnet-only
// addresses on mainnet. The flags the user typed are kept.
func ParseAddress(input string, net Network) (Address, error) {
	a, err := parseAddress(input)
	if err != nil {
		return Address{}, err
	}
	switch {
	case a.workchain == MasterchainID:
		return Address{}, addrErr(ErrAddressWorkchain,
			"this address is on the masterchain (workchain -1); a wallet that owns a GPU node must be on the basechain (workchain 0): use the address your wallet app shows (UQ… or EQ…)")
	case a.workchain != BasechainID:
		return Address{}, addrErr(ErrAddressWorkchain,
			"workchain %d does not exist on TON; use the address your wallet app shows (UQ… or EQ…)", a.workchain)
	}
	if a.form == FormRaw {
		a.testnet = net == Testnet
	}
	if net == Mainnet && a.testnet {
		return Address{}, addrErr(ErrAddressTestnetOnly,
			"this is a testnet address (it starts with %s) but the app is set to mainnet: enter your mainnet wallet address (UQ… or EQ…), or switch the app to testnet",
			a.AsTyped()[:2])
	}
	return a, nil
}

// ParseAnyAddress reads an address in any form ParseAddress accepts, on
// either network and on the basechain or the masterchain. Use it for
// addresses the app did not take from the user as an owner wallet
// (configuration, stored values, chain data).
func ParseAnyAddress(input string) (Address, error) {
	a, err := parseAddress(input)
	if err != nil {
		return Address{}, err
	}
	if a.workchain != BasechainID && a.workchain != MasterchainID {
		return Address{}, addrErr(ErrAddressWorkchain, "workchain %d does not exist on TON", a.workchain)
	}
	return a, nil
}

// cleanAddressInput drops whitespace and zero-width characters anywhere.
func cleanAddressInput(s string) string {
	clean := true
	for _, r := range s {
		if isAddressJunk(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if !isAddressJunk(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isAddressJunk(r rune) bool {
	switch r {
	case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff':
		return true
	}
	return unicode.IsSpace(r)
}

func parseAddress(input string) (Address, error) {
	s := cleanAddressInput(input)
	if s == "" {
		return Address{}, addrErr(ErrAddressEmpty, "enter a TON wallet address: 48 characters starting with UQ or EQ, as your wallet app shows it")
	}
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "ton://") || strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://"):
		return Address{}, addrErr(ErrAddressNotAddress, "this is a link, not an address: paste only the address (48 characters starting with UQ or EQ)")
	case strings.HasSuffix(lower, ".ton") || strings.HasSuffix(lower, ".t.me"):
		return Address{}, addrErr(ErrAddressNotAddress, "domain names are not supported here: paste the wallet address itself (48 characters starting with UQ or EQ)")
	}
	if strings.Contains(s, ":") {
		return parseRawAddress(s)
	}
	return parseUserFriendly(s)
}

func parseRawAddress(s string) (Address, error) {
	wcText, hexText, _ := strings.Cut(s, ":")
	digits := strings.TrimPrefix(wcText, "-")
	if digits == "" || strings.Trim(digits, "0123456789") != "" || len(digits) > 4 {
		return Address{}, addrErr(ErrAddressRawFormat,
			"%q before ':' is not a workchain number; a raw address looks like 0:<64 hex digits>", printable(wcText))
	}
	wc, err := strconv.Atoi(wcText)
	if err != nil || wc < -128 || wc > 127 {
		return Address{}, addrErr(ErrAddressWorkchain, "workchain %s does not exist on TON; a raw address looks like 0:<64 hex digits>", wcText)
	}
	for i, r := range hexText {
		if !isHexDigit(r) {
			return Address{}, addrErr(ErrAddressRawFormat,
				"character %q at position %d after ':' is not a hex digit; a raw address is 0: followed by 64 hex digits: copy it again", r, utf8.RuneCountInString(hexText[:i])+1)
		}
	}
	if len(hexText) != 64 {
		return Address{}, addrErr(ErrAddressRawFormat,
			"a raw address needs exactly 64 hex digits after ':', this one has %d: copy the whole address again", len(hexText))
	}
	var h [32]byte
	if _, err := hex.Decode(h[:], []byte(hexText)); err != nil {
		return Address{}, addrErr(ErrAddressRawFormat, "the part after ':' is not hex: copy the address again")
	}
	return Address{hash: h, workchain: int8(wc), bounceable: true, form: FormRaw, set: true}, nil
}

func parseUserFriendly(s string) (Address, error) {
	if trimmed := strings.TrimRight(s, "="); len(trimmed) != len(s) {
		if len(trimmed) == userFriendlyLen {
			return Address{}, addrErr(ErrAddressPadding,
				"remove the '=' at the end: a TON address is exactly 48 characters without padding")
		}
	}
	std, url := false, false
	for i, r := range s {
		switch {
		case r == '+' || r == '/':
			std = true
		case r == '-' || r == '_':
			url = true
		case r < utf8.RuneSelf && (r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9'):
		default:
			return Address{}, addrErr(ErrAddressNotBase64,
				"character %q at position %d cannot appear in a TON address: copy the address again from your wallet app", r, utf8.RuneCountInString(s[:i])+1)
		}
	}
	if n := utf8.RuneCountInString(s); n != userFriendlyLen {
		return Address{}, addrErr(ErrAddressLength,
			"a TON address has 48 characters (or 0: and 64 hex digits), this one has %d: copy the whole address again from your wallet app", n)
	}
	if std && url {
		return Address{}, addrErr(ErrAddressNotBase64,
			"the address mixes '+'/'/' with '-'/'_', which no wallet writes: copy the address again from your wallet app")
	}
	norm := s
	form := FormBase64URL
	if std {
		norm = strings.NewReplacer("+", "-", "/", "_").Replace(s)
		form = FormBase64Std
	}
	var b [36]byte
	n, err := base64.RawURLEncoding.Decode(b[:], []byte(norm))
	if err != nil || n != len(b) {
		return Address{}, addrErr(ErrAddressNotBase64, "the address is not valid base64: copy it again from your wallet app")
	}
	if crc16.Checksum(b[:34], xmodem) != binary.BigEndian.Uint16(b[34:]) {
		return Address{}, addrErr(ErrAddressChecksum,
			"the address checksum does not match: a character was mistyped or lost; copy the address again from your wallet app")
	}
	tag := b[0]
	switch tag &^ tagTestnetOnly {
	case tagBounceable, tagNonBounceable:
	default:
		return Address{}, addrErr(ErrAddressFlags,
			"the address starts with an unknown flags byte 0x%02x, so it is not a standard TON address: copy your wallet address (UQ… or EQ…) again", tag)
	}
	return Address{
		hash:       [32]byte(b[2:34]),
		workchain:  int8(b[1]),
		bounceable: tag&^tagTestnetOnly == tagBounceable,
		testnet:    tag&tagTestnetOnly != 0,
		form:       form,
		set:        true,
	}, nil
}

func isHexDigit(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F'
}

// printable shortens s for an error message.
func printable(s string) string {
	if utf8.RuneCountInString(s) > 12 {
		r := []rune(s)
		return string(r[:12]) + "…"
	}
	return s
}

// xmodem is CRC-16/XMODEM, the checksum of user-friendly TON addresses.
var xmodem = crc16.MakeTable(crc16.CRC16_XMODEM)
