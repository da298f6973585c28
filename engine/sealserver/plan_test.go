package sealserver

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	rel := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rel, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(rel, "bin", "seal-server"), []byte("x"), 0o755)
	os.WriteFile(filepath.Join(rel, "bin", "enclave.signed.so"), []byte("x"), 0o644)
	data := filepath.Join(t.TempDir(), "data dir")

	p := Describe(Config{ReleaseDir: rel, DataDir: data})
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	enclave := filepath.Join(rel, "bin", "enclave.signed.so")
	if want := []string{filepath.Join(rel, "bin", "seal-server"), "--enclave-path", enclave}; !slices.Equal(p.Argv(), want) {
		t.Errorf("argv %q, want %q", p.Argv(), want)
	}
	if p.Dir != rel || p.Port != DefaultPort || p.LogPath != filepath.Join(data, "logs", "seal-server.log") {
		t.Errorf("plan %+v", p)
	}
	lines := strings.Join(p.Lines(), "\n")
	for _, want := range []string{"--enclave-path", "vsock port 12345", "'" + filepath.Join(data, "logs", "seal-server.log") + "'"[1:], "rotated"} {
		if !strings.Contains(lines, strings.Trim(want, "'")) {
			t.Errorf("lines lack %q:\n%s", want, lines)
		}
	}
	if strings.Contains(lines, "problem") {
		t.Errorf("problems in a good plan:\n%s", lines)
	}

	p = Describe(Config{ReleaseDir: rel, Port: 4000})
	if !slices.Equal(p.Args[2:], []string{"--port", "4000"}) || p.LogPath != "" {
		t.Errorf("port plan %+v", p)
	}
	if l := strings.Join(p.Lines(), "\n"); !strings.Contains(l, "forwarder") || !strings.Contains(l, "in memory") {
		t.Errorf("port plan lines:\n%s", l)
	}
}

func TestDescribeMissing(t *testing.T) {
	p := Describe(Config{ReleaseDir: t.TempDir()})
	err := p.Err()
	if !errors.Is(err, ErrMissingFiles) {
		t.Fatalf("err %v, want ErrMissingFiles", err)
	}
	for _, want := range []string{"bin/seal-server is not in the release", "bin/enclave.signed.so is not in the release", "Fetch the official worker release again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if l := strings.Join(p.Lines(), "\n"); !strings.Contains(l, "problem:") {
		t.Errorf("lines lack the problem:\n%s", l)
	}
	if _, err := New(Options{Plan: p}); !errors.Is(err, ErrMissingFiles) {
		t.Errorf("New with a bad plan: %v", err)
	}
	if _, err := New(Options{}); !errors.Is(err, ErrMissingFiles) {
		t.Errorf("New with no plan: %v", err)
	}
}

func TestQuoteArgv(t *testing.T) {
	got := quoteArgv([]string{"/opt/r/bin/seal-server", "--enclave-path", "/a b/it's.so", ""})
	if want := `/opt/r/bin/seal-server --enclave-path '/a b/it'\''s.so' ''`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestHint(t *testing.T) {
	tests := []struct{ last, log, want string }{
		{"seal-server exited with status 1", "sgx_create_enclave failed: SGX_ERROR_NO_DEVICE", "enclave could not be loaded"},
		{"seal-server exited with status 1", "SGX_ERROR_ENCLAVE_FILE_ACCESS", "fetch the release again"},
		{"seal-server exited with status 2", "sgx_qe_get_quote returned SGX_QL_NETWORK_ERROR", "DCAP"},
		{"something already answers on seal-server's vsock port (port 12345)", "", "Another process holds the vsock port"},
		{"seal-server did not answer on vsock port 12345 within 30s", "", "never answered"},
		{"seal-server exited with status 127", "error while loading shared libraries: libsgx_urts.so", "shared libraries"},
		{"seal-server exited with status 1", "all fine?", ""},
	}
	for _, tc := range tests {
		got := hint(tc.last, []string{tc.log})
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("hint(%q, %q) = %q, want it to contain %q", tc.last, tc.log, got, tc.want)
		}
	}
}
