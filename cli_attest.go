package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest"
)

const attestUsage = `Usage:
  cocoon-provider attest quote FILE [--json] [--at TIME] [--policy FILE]
      parse a TDX quote (v4, v5 or fake TDX; binary, hex or base64), verify it offline
      to Intel's root, print its measurements and the Cocoon image hash
  cocoon-provider attest cert FILE [--json] [--at TIME] [--policy FILE]
      parse and verify a Cocoon RA-TLS certificate (PEM or DER): extensions, key binding, quote
  cocoon-provider attest expect --config DIR [--debug] [--base-quote FILE | --mrtd HEX --rtmr0 HEX --rtmr1 HEX --rtmr2 HEX] [--json]
      the spec tree of a config share, the RTMR3 the guest will extend and the image hash it
      will have (the base measurements come from a quote of the same release, or are given)

--policy FILE is a Cocoon tdx_config JSON: allowed_mrtd, allowed_rtmr, allowed_image_hashes,
allowed_collateral_root_hashes. --at verifies as of a time (RFC 3339), e.g. for old sample quotes.
`

func cmdAttest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runSubcommand(ctx, "attest", attestUsage, []subcommand{
		{"quote", cmdAttestQuote},
		{"cert", cmdAttestCert},
		{"expect", cmdAttestExpect},
	}, args, stdout, stderr)
}

// readBlob reads a file that holds binary data, or the same as hex or
// base64 text (as quotes are often passed around).
func readBlob(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if text := strings.Join(strings.Fields(string(b)), ""); text != "" && isPrintable(b) {
		if d, err := hex.DecodeString(text); err == nil {
			return d, nil
		}
		if d, err := base64.StdEncoding.DecodeString(text); err == nil {
			return d, nil
		}
	}
	return b, nil
}

func isPrintable(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c > 0x7e {
			return false
		}
	}
	return true
}

// parseAt reads --at.
func parseAt(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--at %q: use RFC 3339, e.g. 2023-07-01T01:00:00Z", v)
}

func readPolicy(path string) (*attest.Policy, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := attest.ParsePolicyJSON(b)
	if err != nil {
		return nil, fmt.Errorf("--policy %s: %w", path, err)
	}
	return &p, nil
}

// quoteReport is what `attest quote --json` prints.
type quoteReport struct {
	File          string   `json:"file"`
	Fake          bool     `json:"fake_tdx"`
	Version       uint16   `json:"version,omitempty"`
	BodyType      uint16   `json:"body_type,omitempty"`
	TEETCBSVN     string   `json:"tee_tcb_svn,omitempty"`
	TDAttributes  string   `json:"td_attributes,omitempty"`
	Debug         bool     `json:"debug"`
	XFAM          string   `json:"xfam,omitempty"`
	MRSEAM        string   `json:"mrseam,omitempty"`
	MRTD          string   `json:"mrtd"`
	MRConfigID    string   `json:"mrconfigid"`
	MROwner       string   `json:"mrowner"`
	MROwnerConfig string   `json:"mrownerconfig"`
	RTMR          []string `json:"rtmr"`
	ReportData    string   `json:"reportdata"`
	ImageHash     string   `json:"image_hash"`
	ImageHashB64  string   `json:"image_hash_base64"`
	PCKChain      []string `json:"pck_chain,omitempty"`
	// Verification.
	VerifiedAt        time.Time `json:"verified_at,omitzero"`
	ChainOK           bool      `json:"chain_ok"`
	QEReportOK        bool      `json:"qe_report_ok"`
	SignatureOK       bool      `json:"signature_ok"`
	RootKeyID         string    `json:"root_key_id,omitempty"`
	CollateralChecked bool      `json:"collateral_checked"`
	Note              string    `json:"note,omitempty"`
	Verified          bool      `json:"verified"`
	Error             string    `json:"error,omitempty"`
	Policy            string    `json:"policy,omitempty"` // "ok" or the failure
}

func newQuoteReport(file string, q *attest.Quote) quoteReport {
	hx := func(b []byte) string { return hex.EncodeToString(b) }
	ih := q.Measurements().ImageHash()
	r := quoteReport{File: file, Fake: q.Fake, Version: q.Version, BodyType: q.BodyType, MRTD: hx(q.MRTD[:]),
		MRConfigID: hx(q.MRConfigID[:]), MROwner: hx(q.MROwner[:]), MROwnerConfig: hx(q.MROwnerConfig[:]),
		ReportData: hx(q.ReportData[:]), ImageHash: hx(ih[:]), ImageHashB64: base64.StdEncoding.EncodeToString(ih[:]),
		Debug: q.TDAttributes.Debug()}
	for i := range q.RTMR {
		r.RTMR = append(r.RTMR, hx(q.RTMR[i][:]))
	}
	if !q.Fake {
		r.TEETCBSVN, r.TDAttributes, r.XFAM, r.MRSEAM = hx(q.TEETCBSVN[:]), hx(q.TDAttributes[:]), hx(q.XFAM[:]), hx(q.MRSEAM[:])
		for _, c := range q.CertificationData.PCKChain {
			r.PCKChain = append(r.PCKChain, fmt.Sprintf("%s (until %s)", c.Subject.CommonName, c.NotAfter.Format("2006-01-02")))
		}
	}
	return r
}

// verifyInto runs the offline verification and the policy on a quote.
func (r *quoteReport) verifyInto(raw []byte, q *attest.Quote, at time.Time, policy *attest.Policy) {
	var rootKey [48]byte
	if q.Fake {
		r.Note = "fake TDX (dev mode): no signature to verify; only the stand-in proxy accepts it"
	} else {
		v, err := attest.VerifyQuote(raw, attest.VerifyOptions{Now: at})
		if v != nil {
			r.VerifiedAt, r.ChainOK, r.QEReportOK, r.SignatureOK = v.Now, v.ChainOK, v.QEReportOK, v.SignatureOK
			r.CollateralChecked, r.Note = v.CollateralChecked, v.Note
			if v.ChainOK {
				rootKey = v.RootKeyID
				r.RootKeyID = hex.EncodeToString(v.RootKeyID[:])
			}
		}
		if err != nil {
			r.Error = err.Error()
		}
		r.Verified = err == nil
	}
	if policy != nil {
		if err := policy.Validate(q, rootKey); err != nil {
			r.Policy = err.Error()
		} else {
			r.Policy = "ok"
		}
	}
}

func (r quoteReport) write(w io.Writer) {
	kind := fmt.Sprintf("TDX quote v%d", r.Version)
	if r.Fake {
		kind = "fake-TDX quote (64 bytes: the report data only)"
	}
	fmt.Fprintf(w, "%s: %s\n", r.File, kind)
	fmt.Fprintf(w, "  image hash     %s  (base64 %s)\n", r.ImageHash, r.ImageHashB64)
	fmt.Fprintf(w, "  MRTD           %s\n", r.MRTD)
	for i, v := range r.RTMR {
		fmt.Fprintf(w, "  RTMR%d          %s\n", i, v)
	}
	fmt.Fprintf(w, "  MRCONFIGID     %s\n  MROWNER        %s\n  MROWNERCONFIG  %s\n", r.MRConfigID, r.MROwner, r.MROwnerConfig)
	fmt.Fprintf(w, "  REPORTDATA     %s\n", r.ReportData)
	if !r.Fake {
		fmt.Fprintf(w, "  TEE TCB SVN    %s   TD attributes %s (debug %v)   XFAM %s\n", r.TEETCBSVN, r.TDAttributes, r.Debug, r.XFAM)
		for i, c := range r.PCKChain {
			fmt.Fprintf(w, "  PCK chain %d    %s\n", i, c)
		}
		mark := func(ok bool) string {
			if ok {
				return "ok"
			}
			return "FAILED"
		}
		fmt.Fprintf(w, "  verification   at %s: certificate chain %s, QE report %s, quote signature %s\n",
			r.VerifiedAt.Format(time.RFC3339), mark(r.ChainOK), mark(r.QEReportOK), mark(r.SignatureOK))
		if r.RootKeyID != "" {
			fmt.Fprintf(w, "  root key id    %s\n", r.RootKeyID)
		}
	}
	if r.Note != "" {
		fmt.Fprintf(w, "  note           %s\n", r.Note)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  error          %s\n", r.Error)
	}
	if r.Policy != "" {
		fmt.Fprintf(w, "  policy         %s\n", r.Policy)
	}
	if r.Debug {
		fmt.Fprintln(w, "  warning        the TD runs with DEBUG on: its memory is readable by the host; the image hash does not cover this")
	}
}

func cmdAttestQuote(_ context.Context, args []string, stdout, stderr io.Writer) error {
	file, asJSON, when, policy, err := parseVerifyFlags("quote", args, stderr)
	if err != nil {
		return err
	}
	raw, err := readBlob(file)
	if err != nil {
		return err
	}
	q, err := attest.ParseQuote(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	r := newQuoteReport(file, q)
	r.verifyInto(raw, q, when, policy)
	if asJSON {
		if err := printJSON(stdout, r); err != nil {
			return err
		}
	} else {
		r.write(stdout)
	}
	if (!r.Fake && !r.Verified) || (r.Policy != "" && r.Policy != "ok") {
		return exitError(1)
	}
	return nil
}

// parseVerifyFlags reads the flags of attest quote and attest cert: FILE,
// --json, --at and --policy.
func parseVerifyFlags(what string, args []string, stderr io.Writer) (file string, asJSON bool, at time.Time, policy *attest.Policy, err error) {
	fs := newFlagSet("attest "+what, stderr)
	j := fs.Bool("json", false, "print JSON")
	atFlag := fs.String("at", "", "verify as of this time (RFC 3339)")
	policyFile := fs.String("policy", "", "check the quote against a Cocoon tdx_config policy JSON")
	if file, err = parseWithFile(fs, args, what+" FILE"); err != nil {
		return
	}
	if at, err = parseAt(*atFlag); err != nil {
		return
	}
	policy, err = readPolicy(*policyFile)
	return file, *j, at, policy, err
}

// parseWithFile parses flags given before or after one FILE argument.
func parseWithFile(fs interface {
	Parse([]string) error
	Args() []string
}, args []string, what string) (string, error) {
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	rest := fs.Args()
	if file == "" && len(rest) > 0 {
		file, rest = rest[0], rest[1:]
	}
	if file == "" || len(rest) > 0 {
		return "", fmt.Errorf("usage: cocoon-provider attest %s", what)
	}
	return file, nil
}

// certReport is what `attest cert --json` prints.
type certReport struct {
	File       string       `json:"file"`
	Version    int          `json:"x509_version"`
	PublicKey  string       `json:"public_key"`
	NotBefore  time.Time    `json:"not_before"`
	NotAfter   time.Time    `json:"not_after"`
	Extensions []string     `json:"extensions"`
	KeyBound   bool         `json:"key_bound"` // REPORTDATA == SHA-512(public key)
	Quote      *quoteReport `json:"quote,omitempty"`
	Verified   bool         `json:"verified"`
	Error      string       `json:"error,omitempty"`
}

func cmdAttestCert(_ context.Context, args []string, stdout, stderr io.Writer) error {
	file, asJSON, when, policy, err := parseVerifyFlags("cert", args, stderr)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	der := b
	if blk, _ := pem.Decode(b); blk != nil {
		der = blk.Bytes
	}
	c, err := attest.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	r := certReport{File: file, Version: c.Version, PublicKey: hex.EncodeToString(c.PublicKey), NotBefore: c.NotBefore, NotAfter: c.NotAfter}
	for _, e := range c.Extensions {
		crit := ""
		if e.Critical {
			crit = " (critical)"
		}
		r.Extensions = append(r.Extensions, fmt.Sprintf("%s%s, %d bytes", e.OID, crit, len(e.Value)))
	}
	if len(c.Quote) > 0 {
		if q, err := attest.ParseQuote(c.Quote); err != nil {
			r.Error = "quote: " + err.Error()
		} else {
			rd := attest.ReportData(c.PublicKey)
			r.KeyBound = rd == q.ReportData
			qr := newQuoteReport("(in the certificate)", q)
			qr.verifyInto(c.Quote, q, when, policy)
			r.Quote = &qr
		}
	}
	now := when
	if now.IsZero() {
		now = time.Now()
	}
	v := &attest.Verifier{Now: func() time.Time { return now }, AllowFake: true}
	if _, err := v.Verify([][]byte{der}); err != nil {
		if r.Error == "" {
			r.Error = err.Error()
		}
	} else {
		r.Verified = true
	}
	if asJSON {
		if err := printJSON(stdout, r); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "%s: Cocoon RA-TLS certificate (X.509 v%d), Ed25519 key %s\n", file, r.Version, r.PublicKey)
		fmt.Fprintf(stdout, "  valid          %s to %s\n", r.NotBefore.Format(time.RFC3339), r.NotAfter.Format(time.RFC3339))
		for _, e := range r.Extensions {
			fmt.Fprintf(stdout, "  extension      %s\n", e)
		}
		fmt.Fprintf(stdout, "  key binding    REPORTDATA = SHA-512(public key): %v\n", r.KeyBound)
		if r.Verified {
			fmt.Fprintln(stdout, "  verified       yes (validity, extensions, key binding, quote)")
		}
		if r.Error != "" {
			fmt.Fprintf(stdout, "  error          %s\n", r.Error)
		}
		if r.Quote != nil {
			r.Quote.write(stdout)
		}
	}
	if !r.Verified || (r.Quote != nil && r.Quote.Policy != "" && r.Quote.Policy != "ok") {
		return exitError(1)
	}
	return nil
}

func cmdAttestExpect(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("attest expect", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	dir := fs.String("config", "", "the config (spec) directory the guest will measure")
	debug := fs.Bool("debug", false, "the guest runs with cocoon_debug (test mode)")
	baseQuote := fs.String("base-quote", "", "take MRTD and RTMR0–2 from this quote of the same release and hardware")
	regs := map[string]*string{}
	for _, n := range []string{"mrtd", "rtmr0", "rtmr1", "rtmr2"} {
		regs[n] = fs.String(n, "", n+" of the release (96 hex digits)")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("give --config DIR: the spec directory shared with the guest")
	}
	var base attest.Measurements
	known := false
	if *baseQuote != "" {
		raw, err := readBlob(*baseQuote)
		if err != nil {
			return err
		}
		q, err := attest.ParseQuote(raw)
		if err != nil {
			return fmt.Errorf("--base-quote %s: %w", *baseQuote, err)
		}
		base, known = q.Measurements(), true
	}
	for name, v := range regs {
		if *v == "" {
			continue
		}
		b, err := hex.DecodeString(strings.TrimSpace(*v))
		if err != nil || len(b) != 48 {
			return fmt.Errorf("--%s: want 96 hex digits (48 bytes)", name)
		}
		known = true
		switch name {
		case "mrtd":
			copy(base.MRTD[:], b)
		case "rtmr0":
			copy(base.RTMR[0][:], b)
		case "rtmr1":
			copy(base.RTMR[1][:], b)
		case "rtmr2":
			copy(base.RTMR[2][:], b)
		}
	}
	e, err := attest.ExpectConfig(os.DirFS(*dir), base, *debug)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, e)
	}
	fmt.Fprintf(stdout, "Config %s\n  spec tree   %x\n", *dir, e.Tree)
	for _, ev := range e.Events {
		fmt.Fprintf(stdout, "  RTMR3 event %s\n", ev)
	}
	fmt.Fprintf(stdout, "  RTMR3       %x\n", e.RTMR3)
	if known {
		fmt.Fprintf(stdout, "  image hash  %x  (base64 %s)\n", e.ImageHash, base64.StdEncoding.EncodeToString(e.ImageHash[:]))
	} else {
		fmt.Fprintln(stdout, "  image hash  needs the release's MRTD and RTMR0–2: pass --base-quote FILE (a quote of the same release and hardware) or --mrtd/--rtmr0/--rtmr1/--rtmr2")
	}
	return nil
}
