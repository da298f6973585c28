package main

import (
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-tdx-guest/testing/testdata"

	"github.com/cocoon-provider/cocoon-provider/attest"
)

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCLIAttestQuote(t *testing.T) {
	raw := writeTemp(t, "quote.dat", testdata.RawQuote)
	asHex := writeTemp(t, "quote.hex", []byte(hex.EncodeToString(testdata.RawQuote)+"\n"))
	for _, f := range []string{raw, asHex} {
		code, out, errb := runCLI(t, "attest", "quote", f, "--json", "--at", "2023-07-01T01:00:00Z")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", f, code, errb)
		}
		var r quoteReport
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if r.ImageHash != "6f07b63ffaad70ee8ffd5fcf7adfd79d1c853c1db0e3612568921649259771b5" || !r.Verified ||
			r.RootKeyID != hex.EncodeToString(attest.IntelRootKeyID[:]) || r.CollateralChecked || r.Note == "" {
			t.Errorf("%s: %+v", f, r)
		}
	}
	// Tampered: one RTMR3 byte changed. The signature no longer holds: exit 1, said why.
	bad := append([]byte(nil), testdata.RawQuote...)
	bad[0x208] ^= 1
	code, out, _ := runCLI(t, "attest", "quote", writeTemp(t, "bad.dat", bad))
	if code != 1 || !strings.Contains(out, "quote signature FAILED") {
		t.Errorf("tampered quote: exit %d\n%s", code, out)
	}
	// Truncated: a parse error naming the field.
	code, _, errb := runCLI(t, "attest", "quote", writeTemp(t, "short.dat", testdata.RawQuote[:300]))
	if code != 1 || !strings.Contains(errb, "quote") {
		t.Errorf("truncated quote: exit %d, %s", code, errb)
	}
	// A policy that does not allow this image: exit 1, both values named.
	pol := writeTemp(t, "policy.json", []byte(`{"allowed_image_hashes": ["`+strings.Repeat("ab", 32)+`"]}`))
	code, out, _ = runCLI(t, "attest", "quote", raw, "--policy", pol)
	if code != 1 || !strings.Contains(out, strings.Repeat("ab", 32)) || !strings.Contains(out, "6f07b63f") {
		t.Errorf("policy refusal: exit %d\n%s", code, out)
	}
}

func TestCLIAttestCert(t *testing.T) {
	cert, err := attest.NewCertificate(attest.FakeTDX{}, attest.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := writeTemp(t, "worker_cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}))
	code, out, errb := runCLI(t, "attest", "cert", f)
	if code != 0 || !strings.Contains(out, "key binding    REPORTDATA = SHA-512(public key): true") ||
		!strings.Contains(out, "fake-TDX quote") || !strings.Contains(out, "1.3.6.1.4.1.12345.1 (critical)") {
		t.Errorf("exit %d, %s\n%s", code, errb, out)
	}
	code, _, _ = runCLI(t, "attest", "cert", f, "--at", "2020-01-01T00:00:00Z")
	if code != 1 {
		t.Errorf("a certificate not yet valid: exit %d", code)
	}
}

func TestCLIAttestExpect(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "runtime"), 0o755); err != nil {
		t.Fatal(err)
	}
	// runtime/ is not measured: the tree is git's empty SHA-256 tree.
	if err := os.WriteFile(filepath.Join(dir, "runtime", "runtime.vars"), []byte("X=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errb := runCLI(t, "attest", "expect", "--config", dir)
	if code != 0 || !strings.Contains(out, "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321") ||
		!strings.Contains(out, "93cf188d6ad7c7c88ee55b267c48e2d5edd983c15cb94c5caa62638f16524ba6496f376943fba45444a87bc08b8be125") ||
		!strings.Contains(out, "needs the release's MRTD") {
		t.Errorf("exit %d, %s\n%s", code, errb, out)
	}
	q := writeTemp(t, "q.dat", testdata.RawQuote)
	code, out, _ = runCLI(t, "attest", "expect", "--config", dir, "--base-quote", q, "--json")
	var e struct {
		ImageHash string `json:"image_hash"`
		RTMR3     string `json:"rtmr3"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &e) != nil || len(e.ImageHash) != 64 || !strings.HasPrefix(e.RTMR3, "93cf188d") {
		t.Errorf("with a base quote: exit %d\n%s", code, out)
	}
	if code, _, errb := runCLI(t, "attest", "expect"); code != 1 || !strings.Contains(errb, "--config") {
		t.Errorf("no --config: exit %d %s", code, errb)
	}
}
