package wallet

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// QRSize is the side of the QR code image TransferQR makes, in pixels.
const QRSize = 256

// TransferLink returns the ton://transfer link a wallet app opens to send
// t: ton://transfer/<address>?amount=<nanoTON>&text=<comment>. The address
// is written bounceable (EQ…) or not (UQ…) as t.Bounce says, since wallet
// apps take the bounce flag from the address form; testnet-only when t.To
// is. A custom body goes in bin= (base64url bag of cells) instead of
// text=. The comment is percent-encoded, spaces as %20 (wallet apps do not
// read '+' as a space). t.Mode is not expressible in a link: wallet apps
// use mode 3.
func TransferLink(t Transfer) (string, error) {
	if err := t.validate(); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("ton://transfer/")
	b.WriteString(t.To.UserFriendly(t.Bounce, t.To.TestnetOnly()))
	b.WriteString("?amount=")
	b.WriteString(strconv.FormatInt(t.Amount, 10))
	if t.Body != nil {
		b.WriteString("&bin=")
		b.WriteString(base64.RawURLEncoding.EncodeToString(t.Body.ToBOC()))
	} else if t.Comment != "" {
		b.WriteString("&text=")
		b.WriteString(escapeLinkText(t.Comment))
	}
	return b.String(), nil
}

func escapeLinkText(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// ParseTransferLink reads a ton://transfer link (as TransferLink writes,
// or from another app) for net: the destination (ParseAddress rules), the
// amount in nanoTON (0 when absent), the text comment or bin body. Bounce
// follows the address form. Links for jettons and other tokens are refused.
func ParseTransferLink(link string, net Network) (Transfer, error) {
	u, err := url.Parse(strings.TrimSpace(link))
	if err != nil {
		return Transfer{}, fmt.Errorf("transfer link: %w", err)
	}
	if !strings.EqualFold(u.Scheme, "ton") || !strings.EqualFold(u.Host, "transfer") {
		return Transfer{}, errors.New("transfer link: not a ton://transfer/ link")
	}
	addr, err := ParseAddress(strings.TrimPrefix(u.Path, "/"), net)
	if err != nil {
		return Transfer{}, fmt.Errorf("transfer link: %w", err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Transfer{}, fmt.Errorf("transfer link: query: %w", err)
	}
	if q.Has("jetton") {
		return Transfer{}, errors.New("transfer link: this link sends a jetton (token), not TON")
	}
	t := Transfer{To: addr, Bounce: addr.Bounceable(), Mode: DefaultSendMode}
	if a := q.Get("amount"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 || strings.Trim(a, "0123456789") != "" {
			return Transfer{}, errors.New("transfer link: amount must be a whole number of nanoTON")
		}
		t.Amount = n
	}
	if bin := q.Get("bin"); bin != "" {
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(bin), "="))
		if err != nil {
			return Transfer{}, errors.New("transfer link: bin is not base64")
		}
		c, err := cellFromBOC(raw)
		if err != nil {
			return Transfer{}, fmt.Errorf("transfer link: bin: %w", err)
		}
		t.Body = c
		if q.Get("text") != "" {
			return Transfer{}, errors.New("transfer link: both text and bin")
		}
	}
	t.Comment = q.Get("text")
	return t, nil
}

// TransferQR returns a PNG of a QR code for link (medium error
// recovery, QRSize pixels square), for the user to scan with the wallet
// app on their phone.
func TransferQR(link string) ([]byte, error) {
	png, err := qrcode.Encode(link, qrcode.Medium, QRSize)
	if err != nil {
		return nil, fmt.Errorf("QR code: %w", err)
	}
	return png, nil
}
