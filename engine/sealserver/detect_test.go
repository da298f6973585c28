//go:build unix

package sealserver

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fixture is a host root and a release folder for Detect.
type fixture struct{ root, release string }

type fixtureOpts struct {
	noEnclaveDev, noProvisionDev bool
	devMode                      os.FileMode
	aesm                         bool
	groupLine                    string // "" = a group file mapping our gid to sgx, no members
	noBinary, binaryNotExec      bool
	emptyEnclave                 bool
}

func write(t *testing.T, p string, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// newRelease lays out a release root with seal-server's files.
func newRelease(t *testing.T, binary string) string {
	t.Helper()
	rel := t.TempDir()
	write(t, filepath.Join(rel, "bin", "seal-server"), binary, 0o755)
	write(t, filepath.Join(rel, "bin", "enclave.signed.so"), "\x7fELF enclave", 0o644)
	return rel
}

func newFixture(t *testing.T, o fixtureOpts) fixture {
	t.Helper()
	f := fixture{root: t.TempDir(), release: newRelease(t, "#!/bin/sh\n")}
	if o.devMode == 0 {
		o.devMode = 0o660
	}
	if !o.noEnclaveDev {
		write(t, filepath.Join(f.root, "dev", "sgx_enclave"), "", o.devMode)
	}
	if !o.noProvisionDev {
		write(t, filepath.Join(f.root, "dev", "sgx_provision"), "", o.devMode)
	}
	group := o.groupLine
	if group == "" {
		group = "sgx:x:" + strconv.Itoa(os.Getgid()) + ":\n"
	}
	write(t, filepath.Join(f.root, "etc", "group"), "root:x:0:\n"+group, 0o644)
	if o.aesm {
		dir := filepath.Join(f.root, "var", "run", "aesmd")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("unix", filepath.Join(dir, "aesm.socket"))
		if err != nil {
			t.Skipf("cannot make a unix socket in the fixture (path too long?): %v", err)
		}
		t.Cleanup(func() { l.Close() })
	}
	switch {
	case o.noBinary:
		os.Remove(filepath.Join(f.release, "bin", "seal-server"))
	case o.binaryNotExec:
		os.Chmod(filepath.Join(f.release, "bin", "seal-server"), 0o644)
	}
	if o.emptyEnclave {
		write(t, filepath.Join(f.release, "bin", "enclave.signed.so"), "", 0o644)
	}
	return f
}

func TestDetect(t *testing.T) {
	root := os.Geteuid() == 0
	tests := []struct {
		name     string
		opts     fixtureOpts
		user     string
		ready    bool
		needRoot bool // access checks cannot fail for root
		want     map[string]CheckStatus
		fix      map[string]string // check ID → part of its Fix
		observed map[string]string
	}{
		{name: "all present", opts: fixtureOpts{aesm: true}, ready: true,
			want: map[string]CheckStatus{CheckEnclaveDevice: StatusOK, CheckProvisionDevice: StatusOK, CheckAESM: StatusOK, CheckBinary: StatusOK, CheckEnclaveFile: StatusOK}},
		{name: "no aesmd only warns", opts: fixtureOpts{}, ready: true,
			want: map[string]CheckStatus{CheckAESM: StatusWarn},
			fix:  map[string]string{CheckAESM: "aesmd"}},
		{name: "no SGX devices", opts: fixtureOpts{noEnclaveDev: true, noProvisionDev: true},
			want: map[string]CheckStatus{CheckEnclaveDevice: StatusFail, CheckProvisionDevice: StatusFail, CheckBinary: StatusOK},
			fix:  map[string]string{CheckEnclaveDevice: "Enable SGX", CheckProvisionDevice: "/dev/sgx_provision then appears"}},
		{name: "no access, not in group", opts: fixtureOpts{devMode: 0o200}, user: "alice", needRoot: true,
			want:     map[string]CheckStatus{CheckEnclaveDevice: StatusFail, CheckProvisionDevice: StatusFail},
			fix:      map[string]string{CheckEnclaveDevice: "sudo usermod -aG sgx alice"},
			observed: map[string]string{CheckEnclaveDevice: "alice cannot open it read-write"}},
		{name: "no access, in group but old session", opts: fixtureOpts{devMode: 0o200, groupLine: "sgx:x:" + strconv.Itoa(os.Getgid()) + ":bob,alice\n"}, user: "alice", needRoot: true,
			want: map[string]CheckStatus{CheckEnclaveDevice: StatusFail},
			fix:  map[string]string{CheckEnclaveDevice: "log out and in again"}},
		{name: "no access, root-owned", opts: fixtureOpts{devMode: 0o200, groupLine: "other:x:99999:\n"}, user: "alice", needRoot: true,
			want: map[string]CheckStatus{CheckEnclaveDevice: StatusFail},
			fix:  map[string]string{CheckEnclaveDevice: "udev rule"}},
		{name: "release without seal-server", opts: fixtureOpts{noBinary: true},
			want:     map[string]CheckStatus{CheckBinary: StatusFail, CheckEnclaveFile: StatusOK},
			fix:      map[string]string{CheckBinary: "Fetch the official worker release again"},
			observed: map[string]string{CheckBinary: "bin/seal-server is not in the release"}},
		{name: "seal-server not executable", opts: fixtureOpts{binaryNotExec: true},
			want:     map[string]CheckStatus{CheckBinary: StatusFail},
			observed: map[string]string{CheckBinary: "not executable"}},
		{name: "empty enclave", opts: fixtureOpts{emptyEnclave: true},
			want:     map[string]CheckStatus{CheckEnclaveFile: StatusFail},
			fix:      map[string]string{CheckEnclaveFile: "exact file"},
			observed: map[string]string{CheckEnclaveFile: "bin/enclave.signed.so is empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needRoot && root {
				t.Skip("running as root: access(2) grants every device")
			}
			f := newFixture(t, tc.opts)
			d := Detect(DetectInput{Root: f.root, ReleaseDir: f.release, User: tc.user})
			if d.Ready != tc.ready {
				t.Errorf("Ready = %v, want %v; %+v", d.Ready, tc.ready, d.Checks)
			}
			for id, want := range tc.want {
				c, ok := d.Check(id)
				if !ok {
					t.Fatalf("no check %s", id)
				}
				if c.Status != want {
					t.Errorf("%s: %s (%s), want %s", id, c.Status, c.Observed, want)
				}
				if c.Status != StatusOK && c.Fix == "" {
					t.Errorf("%s: %s without a fix", id, c.Status)
				}
			}
			for id, part := range tc.fix {
				if c, _ := d.Check(id); !strings.Contains(c.Fix, part) {
					t.Errorf("%s fix %q lacks %q", id, c.Fix, part)
				}
			}
			for id, part := range tc.observed {
				if c, _ := d.Check(id); !strings.Contains(c.Observed, part) {
					t.Errorf("%s observed %q lacks %q", id, c.Observed, part)
				}
			}
			if !d.Ready && !strings.Contains(d.Summary, "cannot run here") {
				t.Errorf("summary %q", d.Summary)
			}
		})
	}
}

func TestDetectWithoutRelease(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	d := Detect(DetectInput{Root: f.root})
	if _, ok := d.Check(CheckBinary); ok {
		t.Error("release checks ran without a release")
	}
	if !d.Ready {
		t.Errorf("not ready: %+v", d.Checks)
	}
}
