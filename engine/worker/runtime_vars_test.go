package worker

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestValidateValueAllowedSet(t *testing.T) {
	// Every byte is tested: exactly the §2.4 set passes.
	const allowed = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:/=@+"
	for b := 0; b < 256; b++ {
		v := "ok" + string([]byte{byte(b)}) + "ok"
		err := ValidateValue(v)
		want := strings.IndexByte(allowed, byte(b)) >= 0
		if (err == nil) != want {
			t.Errorf("byte 0x%02X: err = %v, want allowed = %v", b, err, want)
		}
		if err != nil {
			var ve *ValueError
			if !errors.As(err, &ve) || ve.Offset != 2 || ve.Byte != byte(b) {
				t.Errorf("byte 0x%02X: error %#v, want *ValueError at offset 2", b, err)
			}
		}
	}
	if err := ValidateValue(""); err != nil {
		t.Errorf("empty value: %v", err)
	}
}

func TestValidateValueMessage(t *testing.T) {
	tests := []struct {
		value string
		want  []string
	}{
		{"abc def", []string{`' '`, "U+0020", "byte 3", "A-Z a-z 0-9 _ - . : / = @ +"}},
		{`"quoted"`, []string{`'"'`, "byte 0"}},
		{"tab\there", []string{`'\t'`, "byte 3"}},
		{"naïve", []string{`'ï'`, "U+00EF", "byte 2"}},
		{"bad\xffbyte", []string{"0xFF", "byte 3"}},
		{"line\r", []string{`'\r'`, "byte 4"}},
	}
	for _, tt := range tests {
		err := ValidateValue(tt.value)
		if err == nil {
			t.Errorf("ValidateValue(%q) = nil, want error", tt.value)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ValidateValue(%q) = %q, want it to contain %q", tt.value, err, w)
			}
		}
	}
}

func TestValidateKey(t *testing.T) {
	for _, k := range []string{"A", "MODEL_NAME", "x_1", "_", "9"} {
		if err := ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q) = %v", k, err)
		}
	}
	for _, k := range []string{"", "A-B", "A B", "A=B", "É", "A.B"} {
		if err := ValidateKey(k); err == nil {
			t.Errorf("ValidateKey(%q) = nil, want error", k)
		}
	}
}

const testWalletKey = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="

func TestRuntimeVarsSetGetDelete(t *testing.T) {
	var rv RuntimeVars
	for _, kv := range [][2]string{{"B", "1"}, {"A", "2"}, {"C", "3"}, {"A", "4"}} {
		if err := rv.Set(kv[0], kv[1]); err != nil {
			t.Fatalf("Set(%q, %q): %v", kv[0], kv[1], err)
		}
	}
	if got := strings.Join(rv.Keys(), ","); got != "B,A,C" {
		t.Errorf("Keys = %s, want B,A,C (replaced in place)", got)
	}
	if v, ok := rv.Get("A"); !ok || v != "4" {
		t.Errorf("Get(A) = %q, %v", v, ok)
	}
	if _, ok := rv.Get("Z"); ok {
		t.Error("Get(Z) found a missing key")
	}
	if !rv.Delete("A") || rv.Delete("A") {
		t.Error("Delete(A) should succeed once")
	}
	if rv.Len() != 2 {
		t.Errorf("Len = %d, want 2", rv.Len())
	}
	if err := rv.Set("BAD KEY", "x"); err == nil {
		t.Error("Set with a bad key succeeded")
	}
	if err := rv.Set("K", "bad value"); err == nil {
		t.Error("Set with a bad value succeeded")
	}
	if got := strings.Join(rv.Keys(), ","); got != "B,C" {
		t.Errorf("failed Sets changed the list: %s", got)
	}
}

func TestRuntimeVarsMerge(t *testing.T) {
	existing := mustParseVars(t, "A=1\nB=2\nC=3\n")
	set := mustParseVars(t, "D=4\nB=20\nE=5\n")
	got, err := existing.Merge(set).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	// Existing keys keep their place; B takes the new value; D and E are
	// appended in set's order.
	if want := "A=1\nB=20\nC=3\nD=4\nE=5\n"; string(got) != want {
		t.Errorf("Merge = %q, want %q", got, want)
	}
	if v, _ := existing.Get("B"); v != "2" {
		t.Errorf("Merge changed its receiver: B = %q", v)
	}
}

func mustParseVars(t *testing.T, s string) RuntimeVars {
	t.Helper()
	rv, err := ParseRuntimeVars([]byte(s))
	if err != nil {
		t.Fatalf("ParseRuntimeVars(%q): %v", s, err)
	}
	return rv
}

func TestParseRuntimeVars(t *testing.T) {
	tests := []struct {
		name, in  string
		wantOut   string // Bytes() of the result
		wantErr   string
		errAbsent string // must not be in the error
	}{
		{name: "plain", in: "A=1\nB=x:y/z@w+v=u\n", wantOut: "A=1\nB=x:y/z@w+v=u\n"},
		{name: "no final newline", in: "A=1", wantOut: "A=1\n"},
		{name: "comments and blank lines", in: "# c\n\nA=1\n#B=2\n\n", wantOut: "A=1\n"},
		{name: "empty value", in: "A=\n", wantOut: "A=\n"},
		{name: "value with =", in: "A=b=c\n", wantOut: "A=b=c\n"},
		{name: "fake-TON code", in: "PROXY_SC_CODE=B5EE9C72\n", wantOut: "PROXY_SC_CODE=B5EE9C72\n"},
		{name: "empty file", in: "", wantErr: "no variables"},
		{name: "only comments", in: "# x\n", wantErr: "no variables"},
		{name: "no equals", in: "A=1\nB\n", wantErr: "line 2: no '='"},
		{name: "bad key", in: "A-B=1\n", wantErr: "line 1"},
		{name: "space in value", in: "A=1 2\n", wantErr: "line 1: A: illegal character ' '"},
		{name: "CRLF", in: "A=1\r\n", wantErr: `'\r'`},
		{name: "indented comment", in: " # c\n", wantErr: "line 1"},
		{name: "duplicate", in: "A=1\nB=2\nA=3\n", wantErr: "line 3: key A repeats line 1"},
		{name: "secret hidden", in: "NODE_WALLET_KEY=se cret\n", wantErr: "not shown", errAbsent: "' '"},
		{name: "hf token hidden", in: "HF_TOKEN=hf_\"abc\n", wantErr: "byte 3", errAbsent: `'"'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rv, err := ParseRuntimeVars([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if tt.errAbsent != "" && strings.Contains(err.Error(), tt.errAbsent) {
					t.Errorf("err = %q shows %q", err, tt.errAbsent)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out, err := rv.Bytes()
			if err != nil || string(out) != tt.wantOut {
				t.Errorf("Bytes = %q, %v; want %q", out, err, tt.wantOut)
			}
		})
	}
}

func TestRuntimeVarsBytesEmpty(t *testing.T) {
	var rv RuntimeVars
	if _, err := rv.Bytes(); err == nil {
		t.Error("Bytes of an empty list succeeded; the guest refuses it")
	}
}

func TestRuntimeVarsRedaction(t *testing.T) {
	var rv RuntimeVars
	for _, kv := range [][2]string{{KeyOwnerAddress, "UQowner"}, {KeyNodeWalletKey, testWalletKey}, {KeyHFToken, "hf_SECRETTOKEN"}} {
		if err := rv.Set(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	outputs := map[string]string{"String": rv.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outputs[verb] = fmt.Sprintf(verb, rv)
		outputs[verb+" pointer"] = fmt.Sprintf(verb, &rv)
		outputs[verb+" nested"] = fmt.Sprintf(verb, struct{ V RuntimeVars }{rv})
	}
	for name, out := range outputs {
		for _, secret := range []string{testWalletKey, "SECRETTOKEN", "q83vEjRW"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s output %q contains a secret", name, out)
			}
		}
	}
	if !strings.Contains(rv.String(), "OWNER_ADDRESS=UQowner") || !strings.Contains(rv.String(), "NODE_WALLET_KEY=[redacted]") {
		t.Errorf("String = %q, want public values shown and secrets redacted", rv.String())
	}
	// The file content itself has the secret, of course.
	b, _ := rv.Bytes()
	if !strings.Contains(string(b), "NODE_WALLET_KEY="+testWalletKey+"\n") {
		t.Errorf("Bytes lost the key: %q", b)
	}
	// A secret's bad character is not shown in the error.
	err := rv.Set(KeyNodeWalletKey, "abc!def")
	if err == nil || strings.Contains(err.Error(), "!") || strings.Contains(err.Error(), "abc") {
		t.Errorf("Set secret error = %v, want one without the value", err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		if out := fmt.Sprintf(verb, s); strings.Contains(out, "hunter2") || strings.Contains(out, "68756e74657232") {
			t.Errorf("Sprintf(%s) = %q", verb, out)
		}
	}
	if out := fmt.Sprintf("%v", struct{ K Secret }{s}); strings.Contains(out, "hunter2") {
		t.Errorf("nested = %q", out)
	}
	if b, _ := s.MarshalText(); strings.Contains(string(b), "hunter2") {
		t.Errorf("MarshalText = %q", b)
	}
	if s.LogValue().String() != redacted {
		t.Errorf("LogValue = %v", s.LogValue())
	}
	if s.Reveal() != "hunter2" {
		t.Error("Reveal lost the value")
	}
}
