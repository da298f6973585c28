package diag_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/engine/diag"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// testAddress returns a basechain address whose account id is derived
// from seed.
func testAddress(seed string) wallet.Address {
	return wallet.NewAddress(0, sha256.Sum256([]byte(seed)), false, false)
}

// stdFormAddress returns an address whose user-friendly form written in
// standard base64 has a '+' or '/' (so it differs from base64url).
func stdFormAddress(t *testing.T) (wallet.Address, string) {
	t.Helper()
	for i := range 1000 {
		a := testAddress(fmt.Sprint("std", i))
		s := strings.NewReplacer("-", "+", "_", "/").Replace(a.UserFriendly(true, false))
		if strings.ContainsAny(s, "+/") {
			return a, s
		}
	}
	t.Fatal("no address with a '+' or '/' in 1000 tries")
	return wallet.Address{}, ""
}

func hex64(seed string) string {
	h := sha256.Sum256([]byte(seed))
	return hex.EncodeToString(h[:])
}

func newRedactor(cfg diag.RedactorConfig) *diag.Redactor { return diag.NewRedactor(cfg) }

func TestRedactor(t *testing.T) {
	a1 := testAddress("one")
	a2 := testAddress("two")
	master := wallet.NewAddress(-1, sha256.Sum256([]byte("master")), true, false)
	testnet := testAddress("testnet").WithFlags(false, true)
	_, stdForm := stdFormAddress(t)
	badCRC := []byte(a1.UserFriendly(true, false))
	badCRC[47] ^= 1 // still base64url, wrong checksum
	if badCRC[47] == '-' || badCRC[47] == '_' {
		badCRC[47] = 'A'
	}
	words := wallet.NewMnemonic().Words()
	phrase := strings.Join(words, " ")
	var numbered strings.Builder
	for i, w := range words[:12] {
		fmt.Fprintf(&numbered, "%d. %s\n", i+1, w)
	}
	imageHash := hex64("image")
	nodeKey := hex64("node key")
	b64Key := base64.StdEncoding.EncodeToString([]byte(hex64("b64")[:32]))
	pem := "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHdyaXRlIHRoZSB0ZXN0cyBmaXJzdCBwbGVhc2U=\n-----END PRIVATE KEY-----"

	cfg := diag.RedactorConfig{
		PublicHashes: []string{strings.ToUpper(imageHash)},
		Secrets:      []string{"Tk-3f9a8b7c6d5e4f3a2b1c", "short"},
		Home:         "/Users/alice",
		Users:        []string{"alice", "root", "al"},
		Hosts:        []string{"gpubox-7", "localhost"},
	}
	tests := []struct {
		name, in, want string
	}{
		// TON addresses in every form.
		{"user-friendly non-bounceable", "owner " + a1.Display() + " set", "owner <address-1> set"},
		{"same account bounceable", "pay to " + a1.UserFriendly(true, false) + ".", "pay to <address-1>."},
		{"same account raw", "raw=" + a1.Raw(), "raw=<address-1>"},
		{"raw upper-case hex", "raw " + strings.ToUpper(a1.Raw()), "raw <address-1>"},
		{"second account", a2.Display() + " and " + a1.Display(), "<address-2> and <address-1>"},
		{"masterchain raw", "root " + master.Raw(), "root <address-3>"},
		{"testnet form", testnet.Display(), "<address-4>"},
		{"standard base64 form", "addr " + stdForm, "addr <address-5>"},
		{"in a URL path", "https://tonviewer.com/" + a2.Display() + "?x=1", "https://tonviewer.com/<address-2>?x=1"},
		{"after an underscore", "owner_" + a2.Display(), "owner_<address-2>"},
		{"JSON value", `{"owner":"` + a1.Display() + `"}`, `{"owner":"<address-1>"}`},
		{"bad checksum is not an address", "x " + string(badCRC), "x <key-redacted>"},

		// Hex.
		{"64 hex", "node key " + nodeKey, "node key <hex-redacted>"},
		{"128 hex", "sig " + nodeKey + hex64("more"), "sig <hex-redacted>"},
		{"hex glued to 0x", "0x" + nodeKey, "0x<hex-redacted>"},
		{"63 hex kept", "id " + nodeKey[:63], "id " + nodeKey[:63]},
		{"public hash kept", "image sha256:" + imageHash + " ok", "image sha256:" + imageHash + " ok"},
		{"short hash kept", "image " + imageHash[:12], "image " + imageHash[:12]},

		// Recovery phrases.
		{"24 words", "words: " + phrase + "\nthe end", "words: <mnemonic-redacted>\nthe end"},
		{"list words next to it go too", "phrase: " + phrase + " next", "<mnemonic-redacted>"},
		{"numbered list of 12", "words:\n" + numbered.String() + "done", "words:\n1. <mnemonic-redacted>\ndone"},
		{"JSON array", `{"m":["` + strings.Join(words, `","`) + `"]}`, `{"m":["<mnemonic-redacted>"]}`},
		{"JSON string with \\n", `"` + strings.Join(words, `\n`) + `"`, `"<mnemonic-redacted>"`},
		{"upper case", strings.ToUpper(phrase), "<mnemonic-redacted>"},
		{"keyed phrase loses every word", "mnemonic: " + phrase, "mnemonic: <mnemonic-redacted>"},
		{"11 words kept", strings.Join(words[:11], " "), strings.Join(words[:11], " ")},

		// Tokens.
		{"authorization header", "Authorization: Bearer abc.DEF-123_xyz\nnext", "Authorization: <token-redacted>\nnext"},
		{"authorization JSON", `{"Authorization":"Basic dXNlcjpwYXNz"}`, `{"Authorization":"<token-redacted>"}`},
		{"bearer", "sent bearer eyJhbGciOiJIUzI1NiJ9.e30.abc123", "sent bearer <token-redacted>"},
		{"bearer letters only", "BEARER AbCdEfGhIjKl", "BEARER <token-redacted>"},
		{"keyed in upper case", "HF_TOKEN=hf_AbCdEfGh12345678", "HF_TOKEN=<token-redacted>"},
		{"token=", "GET /v1?token=a1b2c3d4e5f6&x=1", "GET /v1?token=<token-redacted>&x=1"},
		{"api_token JSON", `"api_token": "Zq9-xK2mP4vL8nR3"`, `"api_token": "<token-redacted>"`},
		{"hf_token slog", "hf_token=hf_AbCdEfGh12345678 level=info", "hf_token=<token-redacted> level=info"},
		{"password", "password=hunter2 user=x", "password=<token-redacted> user=x"},
		{"node wallet key", "NODE_WALLET_KEY=" + b64Key, "NODE_WALLET_KEY=<token-redacted>"},
		{"literal secret", "header X-Api: Tk-3f9a8b7c6d5e4f3a2b1c end", "header X-Api: <token-redacted> end"},
		{"short literal secret ignored", "a short story", "a short story"},

		// Keys.
		{"base64 key", "key " + b64Key + " end", "key <key-redacted> end"},
		{"PEM private key", "before\n" + pem + "\nafter", "before\n<key-redacted>\nafter"},
		{"PEM cut off", "x -----BEGIN EC PRIVATE KEY-----\nMHcCAQEE", "x <key-redacted>"},

		// Home, user, host.
		{"home", "open /Users/alice/.local/share/cocoon-provider/provider.db", "open ~/.local/share/cocoon-provider/provider.db"},
		{"home alone", "HOME=/Users/alice", "HOME=~"},
		{"other home kept", "/Users/alicia/x /Users/alice2", "/Users/alicia/x /Users/alice2"},
		{"user", "user alice logged in as alice.", "user <user> logged in as <user>."},
		{"user inside a word kept", "malice alice_x", "malice alice_x"},
		{"root and short names kept", "root al", "root al"},
		{"host", "gpubox-7 and gpubox-7.example.com", "<host> and <host>.example.com"},
		{"host inside a longer name kept", "gpubox-70", "gpubox-70"},
		{"localhost kept", "localhost:8080", "localhost:8080"},

		// IP addresses.
		{"ipv4", "from 192.168.1.10:5000", "from <ip>:5000"},
		{"ipv4 loopback kept", "listening on 127.0.0.1:9310 and 0.0.0.0:80", "listening on 127.0.0.1:9310 and 0.0.0.0:80"},
		{"ipv6", "peer 2001:db8::1 and [2001:db8::2]:443", "peer <ip> and [<ip>]:443"},
		{"ipv6 zone", "fe80::1%eth0 up", "<ip> up"},
		{"ipv6 loopback kept", "[::1]:9310 ::", "[::1]:9310 ::"},
		{"ipv4-mapped", "::ffff:10.0.0.1", "<ip>"},
		{"ipv4 at sentence end", "at 10.0.2.15.", "at <ip>."},
	}
	r := newRedactor(cfg)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Redact(tc.in); got != tc.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
	c := r.Counts()
	for _, k := range []diag.Kind{diag.KindAddress, diag.KindHex, diag.KindMnemonic, diag.KindToken, diag.KindKey,
		diag.KindHome, diag.KindUser, diag.KindHost, diag.KindIP} {
		if c[k] == 0 {
			t.Errorf("Counts()[%s] = 0", k)
		}
	}
	if c[diag.KindAddress] != 12 {
		t.Errorf("Counts()[address] = %d, want 12", c[diag.KindAddress])
	}
}

// TestRedactorKeepsOrdinaryText: log lines that carry nothing private come
// out unchanged.
func TestRedactorKeepsOrdinaryText(t *testing.T) {
	lines := []string{
		`time=2026-03-14T15:09:00.123Z level=INFO msg="booting the stand-in worker (kvm)" instance=0 pid=1234`,
		`2026-03-14T15:09:00Z 2026-03-14T15:09:00.123456789+01:00 15:04:05 2026-03-14 15:04:05.000`,
		`QEMU emulator version 8.2.2 (Debian 1:8.2.2+ds-0ubuntu1.4)`,
		`GPU 0000:17:00.0 NVIDIA H100 80GB HBM3, driver 550.54.15, CUDA 12.4, uuid GPU-5a7c4f1e-9b3d-4c2a-8e6f-1d2b3c4d5e6f`,
		`MIG-GPU-5a7c4f1e-9b3d-4c2a-8e6f-1d2b3c4d5e6f/1/0 on bus 0000:17:00.0`,
		`net: 52:54:00:12:34:56 std::string a::b`,
		`the worker is ready and will start to serve requests as soon as the proxy answers`,
		`ledger: earned 1.5 TON, tokens=1200 fee_per_token=20000000 max_tokens: 512 prompt_tokens=7`,
		`open /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1: no such file or directory`,
		`kernel 6.8.0-45-generic, go1.26.8, version v1.2.3, v1.2.3.4, 1.2.3.4.5`,
		`panic: github.com/cocoon-provider/cocoon-provider/engine/vm.(*Supervisor).run(0xc000123456)`,
		`image stand-in 3f9a8b7c6d5e, commit 0123456789abcdef0123456789abcdef01234567`,
		`cocoon-provider-diag-20260314-150900.zip /var/lib/CocoonProvider/Instances0/Spec1/ABCdef`,
		`a token is required; the bearer of this message; authorization failed: wrong owner`,
		`abandon ability able about above absent absorb abstract absurd abuse access`, // 11 list words
		`Just enter all of your words in order, then click next to check them again.`,
		`stats_addr=127.0.0.1:18080 health_addr=127.0.0.1:18081 ::1`,
		`worker.attached_next=3 worker.pause_until=2026-03-14T16:00:00Z`,
	}
	r := newRedactor(diag.RedactorConfig{Home: "/Users/alice", Users: []string{"alice"}, Hosts: []string{"gpubox"}})
	for _, l := range lines {
		if got := r.Redact(l); got != l {
			t.Errorf("Redact changed an ordinary line:\n  in  %q\n  out %q", l, got)
		}
	}
	for k, n := range r.Counts() {
		if n != 0 {
			t.Errorf("Counts()[%s] = %d on ordinary text", k, n)
		}
	}
}

func TestRedactorKeepAddresses(t *testing.T) {
	a := testAddress("kept")
	r := newRedactor(diag.RedactorConfig{KeepAddresses: true})
	in := "owner " + a.Display() + " raw " + a.Raw() + " key " + hex64("k")
	want := "owner " + a.Display() + " raw " + a.Raw() + " key <hex-redacted>"
	if got := r.Redact(in); got != want {
		t.Errorf("Redact with KeepAddresses:\n got %q\nwant %q", got, want)
	}
	if n := r.Counts()[diag.KindAddress]; n != 0 {
		t.Errorf("Counts()[address] = %d with KeepAddresses, want 0", n)
	}
}

// TestRedactorStableNumbering: the same account keeps its label across
// texts; labels follow the order of first appearance.
func TestRedactorStableNumbering(t *testing.T) {
	a, b, c := testAddress("a"), testAddress("b"), testAddress("c")
	r := newRedactor(diag.RedactorConfig{})
	steps := []struct{ in, want string }{
		{b.Display() + " " + a.Raw(), "<address-1> <address-2>"},
		{a.UserFriendly(true, false), "<address-2>"},
		{c.Raw() + " " + b.Raw() + " " + a.Display(), "<address-3> <address-1> <address-2>"},
	}
	for _, st := range steps {
		if got := r.Redact(st.in); got != st.want {
			t.Errorf("Redact(%q) = %q, want %q", st.in, got, st.want)
		}
	}
	// Another redactor (another bundle) numbers afresh.
	if got := newRedactor(diag.RedactorConfig{}).Redact(c.Display()); got != "<address-1>" {
		t.Errorf("a new Redactor labels %q, want <address-1>", got)
	}
}

func TestRedactorEmptyAndConcurrent(t *testing.T) {
	r := newRedactor(diag.RedactorConfig{})
	if got := r.Redact(""); got != "" {
		t.Errorf("Redact(\"\") = %q", got)
	}
	a := testAddress("concurrent")
	done := make(chan string)
	for range 8 {
		go func() { done <- r.Redact(a.Display()) }()
	}
	for range 8 {
		if got := <-done; got != "<address-1>" {
			t.Errorf("concurrent Redact = %q", got)
		}
	}
}

// TestRedactLines: what spans lines is found as in one text, every line
// keeps its place, and a replacement stands on the first line it covers.
func TestRedactLines(t *testing.T) {
	words := wallet.NewMnemonic().Words()
	a := testAddress("lines")
	lines := []string{"starting", "mnemonic follows:"}
	lines = append(lines, words...) // a word a line
	lines = append(lines,
		"after the phrase",
		"-----BEGIN PRIVATE KEY-----",
		"MC4CAQAwBQYDK2VwBCIEIHdyaXRlIHRoZSB0ZXN0cyBmaXJzdCBwbGVhc2U=",
		"-----END PRIVATE KEY----- and then",
		"",
		"owner "+a.Display()+" token=Abc123Def456Ghi",
		"plain line")
	r := newRedactor(diag.RedactorConfig{})
	got := r.RedactLines(lines)
	if len(got) != len(lines) {
		t.Fatalf("%d lines back, want %d", len(got), len(lines))
	}
	want := map[int]string{0: "starting", 1: "mnemonic follows:", 2: "<mnemonic-redacted>"}
	for i := 3; i < 2+len(words); i++ {
		want[i] = ""
	}
	n := 2 + len(words)
	want[n] = "after the phrase"
	want[n+1] = "<key-redacted>"
	want[n+2] = ""
	want[n+3] = " and then"
	want[n+4] = ""
	want[n+5] = "owner <address-1> token=<token-redacted>"
	want[n+6] = "plain line"
	for i, w := range want {
		if got[i] != w {
			t.Errorf("line %d = %q, want %q", i, got[i], w)
		}
	}
	c := r.Counts()
	if c[diag.KindMnemonic] != 1 || c[diag.KindKey] != 1 || c[diag.KindAddress] != 1 || c[diag.KindToken] != 1 {
		t.Errorf("counts %v, want one of each", c)
	}
	// Without anything to hide, the lines come back as they are.
	plain := []string{"a", "", "b"}
	if got := r.RedactLines(plain); strings.Join(got, "|") != "a||b" {
		t.Errorf("plain lines = %q", got)
	}
	// A line on its own is redacted as Redact does it.
	one := "key " + hex64("one line") + " at 192.0.2.7"
	if got, want := r.RedactLines([]string{one})[0], r.Redact(one); got != want {
		t.Errorf("RedactLines = %q, Redact = %q", got, want)
	}
}
