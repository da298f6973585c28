package wallet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// testPassphraseStore runs the PassphraseStore contract against s.
func testPassphraseStore(t *testing.T, s PassphraseStore) {
	t.Helper()
	if _, err := s.Get("/k/one"); !errors.Is(err, ErrPassphraseNotStored) {
		t.Fatalf("Get before Set: %v", err)
	}
	p := []byte("pass one")
	if err := s.Set("/k/one", p); err != nil {
		t.Fatal(err)
	}
	p[0] = 'X' // the store keeps its own copy
	if err := s.Set("/k/two", []byte("pass two")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get("/k/one")
	if err != nil || string(got) != "pass one" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	clear(got)
	if got, _ := s.Get("/k/one"); string(got) != "pass one" {
		t.Fatal("Get returned the store's own buffer")
	}
	if err := s.Set("/k/one", []byte("pass one, changed")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get("/k/one"); err != nil || string(got) != "pass one, changed" {
		t.Fatalf("after replacing, Get = %q, %v", got, err)
	}
	if err := s.Set("/k/one", nil); !errors.Is(err, ErrEmptyPassphrase) {
		t.Errorf("Set of an empty passphrase: %v", err)
	}
	if err := s.Delete("/k/one"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("/k/one"); !errors.Is(err, ErrPassphraseNotStored) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := s.Delete("/k/one"); err != nil {
		t.Errorf("Delete of nothing: %v", err)
	}
	if got, err := s.Get("/k/two"); err != nil || string(got) != "pass two" {
		t.Errorf("the other id: %q, %v", got, err)
	}
}

func TestMemoryPassphraseStore(t *testing.T) {
	s := NewMemoryPassphraseStore()
	testPassphraseStore(t, s)
	held := s.m["/k/two"]
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(held, make([]byte, len(held))) {
		t.Error("Close did not wipe")
	}
	if _, err := s.Get("/k/two"); !errors.Is(err, ErrPassphraseNotStored) {
		t.Errorf("Get after Close: %v", err)
	}
}

// A keystore opened with a stored passphrase: the use the store is for.
func TestPassphraseStoreOpensKeystore(t *testing.T) {
	path, _ := createTestKeystore(t)
	s := NewMemoryPassphraseStore()
	if err := s.Set(path, testPass); err != nil {
		t.Fatal(err)
	}
	p, err := s.Get(path)
	if err != nil {
		t.Fatal(err)
	}
	defer clear(p)
	openTestKeystore(t, path, p)
}

// startTestBus runs a private dbus-daemon for the test and returns its
// address. A missing dbus-daemon skips the test.
func startTestBus(t *testing.T) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon is not installed (apt-get install dbus-daemon): the Secret Service store is tested on a private bus")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=`+filepath.Join(dir, "bus")+`</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, daemon, "--config-file="+conf, "--nofork", "--print-address")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	select {
	case a := <-addr:
		if a == "" {
			t.Fatalf("dbus-daemon printed no address: %s", stderr.String())
		}
		return a
	case <-time.After(10 * time.Second):
		t.Fatalf("dbus-daemon did not start: %s", stderr.String())
	}
	return ""
}

func connectTestBus(t *testing.T, addr string) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// fakeSecretService implements the part of the Secret Service API that
// SecretServiceStore uses, on a test bus: there is no keyring daemon to run
// here. Its collection can start locked, so that unlocking goes through a
// prompt, and its prompts can be dismissed.
type fakeSecretService struct {
	conn *dbus.Conn

	mu        sync.Mutex
	locked    bool
	dismiss   bool
	noDefault bool
	prompts   int
	items     map[dbus.ObjectPath]*fakeSecretItem
	sessions  map[dbus.ObjectPath]bool
	next      int
}

type fakeSecretItem struct {
	svc   *fakeSecretService
	path  dbus.ObjectPath
	label string
	attrs map[string]string
	value []byte
	ctype string
}

const fakeCollection = dbus.ObjectPath("/org/freedesktop/secrets/collection/login")

func startFakeSecretService(t *testing.T, addr string) *fakeSecretService {
	t.Helper()
	f := &fakeSecretService{conn: connectTestBus(t, addr), items: map[dbus.ObjectPath]*fakeSecretItem{}, sessions: map[dbus.ObjectPath]bool{}}
	if err := f.conn.Export(fakeSecretServiceAPI{f}, secretServicePath, secretServiceIface); err != nil {
		t.Fatal(err)
	}
	if err := f.conn.Export(fakeSecretCollectionAPI{f}, fakeCollection, secretCollectionIface); err != nil {
		t.Fatal(err)
	}
	reply, err := f.conn.RequestName(secretServiceName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v, %v", reply, err)
	}
	return f
}

func (f *fakeSecretService) newPath(kind string) dbus.ObjectPath {
	f.next++
	return dbus.ObjectPath(fmt.Sprintf("/org/freedesktop/secrets/%s/%d", kind, f.next))
}

type fakeSecretServiceAPI struct{ f *fakeSecretService }

func (a fakeSecretServiceAPI) OpenSession(alg string, _ dbus.Variant) (dbus.Variant, dbus.ObjectPath, *dbus.Error) {
	if alg != "plain" {
		return dbus.MakeVariant(""), "/", dbus.NewError("org.freedesktop.DBus.Error.NotSupported", []any{alg})
	}
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	path := a.f.newPath("session")
	a.f.sessions[path] = true
	if err := a.f.conn.Export(fakeSecretSessionAPI{a.f, path}, path, secretSessionIface); err != nil {
		return dbus.MakeVariant(""), "/", dbus.MakeFailedError(err)
	}
	return dbus.MakeVariant(""), path, nil
}

func (a fakeSecretServiceAPI) SearchItems(attrs map[string]string) ([]dbus.ObjectPath, []dbus.ObjectPath, *dbus.Error) {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	var found []dbus.ObjectPath
	for path, it := range a.f.items {
		match := true
		for k, v := range attrs {
			match = match && it.attrs[k] == v
		}
		if match {
			found = append(found, path)
		}
	}
	if a.f.locked {
		return []dbus.ObjectPath{}, found, nil
	}
	return found, []dbus.ObjectPath{}, nil
}

func (a fakeSecretServiceAPI) Unlock(objects []dbus.ObjectPath) ([]dbus.ObjectPath, dbus.ObjectPath, *dbus.Error) {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	if !a.f.locked {
		return objects, "/", nil
	}
	path := a.f.newPath("prompt")
	if err := a.f.conn.Export(fakeSecretPromptAPI{a.f, path, objects}, path, secretPromptIface); err != nil {
		return nil, "/", dbus.MakeFailedError(err)
	}
	return []dbus.ObjectPath{}, path, nil
}

func (a fakeSecretServiceAPI) ReadAlias(name string) (dbus.ObjectPath, *dbus.Error) {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	if name != "default" || a.f.noDefault {
		return "/", nil
	}
	return fakeCollection, nil
}

type fakeSecretPromptAPI struct {
	f       *fakeSecretService
	path    dbus.ObjectPath
	objects []dbus.ObjectPath
}

func (a fakeSecretPromptAPI) Prompt(string) *dbus.Error {
	a.f.mu.Lock()
	a.f.prompts++
	dismiss := a.f.dismiss
	if !dismiss {
		a.f.locked = false
	}
	a.f.mu.Unlock()
	result := dbus.MakeVariant(a.objects)
	if dismiss {
		result = dbus.MakeVariant("")
	}
	if err := a.f.conn.Emit(a.path, secretPromptIface+".Completed", dismiss, result); err != nil {
		return dbus.MakeFailedError(err)
	}
	return nil
}

func (a fakeSecretPromptAPI) Dismiss() *dbus.Error { return nil }

type fakeSecretSessionAPI struct {
	f    *fakeSecretService
	path dbus.ObjectPath
}

func (a fakeSecretSessionAPI) Close() *dbus.Error {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	delete(a.f.sessions, a.path)
	a.f.conn.Export(nil, a.path, secretSessionIface)
	return nil
}

type fakeSecretCollectionAPI struct{ f *fakeSecretService }

func (a fakeSecretCollectionAPI) CreateItem(props map[string]dbus.Variant, secret secretValue, replace bool) (dbus.ObjectPath, dbus.ObjectPath, *dbus.Error) {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	if a.f.locked {
		return "/", "/", dbus.NewError("org.freedesktop.Secret.Error.IsLocked", nil)
	}
	if !a.f.sessions[secret.Session] {
		return "/", "/", dbus.NewError("org.freedesktop.Secret.Error.NoSession", nil)
	}
	var attrs map[string]string
	var label string
	if err := dbus.Store([]any{props[secretItemIface+".Attributes"].Value()}, &attrs); err != nil {
		return "/", "/", dbus.MakeFailedError(err)
	}
	if err := dbus.Store([]any{props[secretItemIface+".Label"].Value()}, &label); err != nil {
		return "/", "/", dbus.MakeFailedError(err)
	}
	if replace {
		for _, it := range a.f.items {
			if maps.Equal(it.attrs, attrs) {
				it.label, it.value, it.ctype = label, secret.Value, secret.ContentType
				return it.path, "/", nil
			}
		}
	}
	it := &fakeSecretItem{svc: a.f, path: a.f.newPath("collection/login/item"), label: label, attrs: attrs, value: secret.Value, ctype: secret.ContentType}
	if err := a.f.conn.Export(fakeSecretItemAPI{it}, it.path, secretItemIface); err != nil {
		return "/", "/", dbus.MakeFailedError(err)
	}
	a.f.items[it.path] = it
	return it.path, "/", nil
}

type fakeSecretItemAPI struct{ it *fakeSecretItem }

func (a fakeSecretItemAPI) GetSecret(session dbus.ObjectPath) (secretValue, *dbus.Error) {
	f := a.it.svc
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.locked {
		return secretValue{}, dbus.NewError("org.freedesktop.Secret.Error.IsLocked", nil)
	}
	if !f.sessions[session] {
		return secretValue{}, dbus.NewError("org.freedesktop.Secret.Error.NoSession", nil)
	}
	return secretValue{Session: session, Parameters: []byte{}, Value: a.it.value, ContentType: a.it.ctype}, nil
}

func (a fakeSecretItemAPI) Delete() (dbus.ObjectPath, *dbus.Error) {
	f := a.it.svc
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.locked {
		return "/", dbus.NewError("org.freedesktop.Secret.Error.IsLocked", nil)
	}
	delete(f.items, a.it.path)
	f.conn.Export(nil, a.it.path, secretItemIface)
	return "/", nil
}

func TestSecretServiceStore(t *testing.T) {
	addr := startTestBus(t)
	fake := startFakeSecretService(t, addr)
	fake.mu.Lock()
	fake.locked = true // the first use unlocks the keyring through a prompt
	fake.mu.Unlock()
	s := NewSecretServiceStore(connectTestBus(t, addr))
	s.PromptTimeout = 10 * time.Second
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	testPassphraseStore(t, s)

	fake.mu.Lock()
	prompts, sessions := fake.prompts, len(fake.sessions)
	var item *fakeSecretItem
	for _, it := range fake.items {
		item = it
	}
	fake.mu.Unlock()
	if prompts != 1 {
		t.Errorf("%d prompts, want 1", prompts)
	}
	if sessions != 0 {
		t.Errorf("%d sessions left open", sessions)
	}
	if item == nil || item.attrs[secretAppAttr] != "cocoon-provider" || item.attrs[secretIDAttr] != "/k/two" ||
		item.attrs[secretSchemaAttr] != secretSchema || !strings.Contains(item.label, "/k/two") || item.ctype != secretContentType {
		t.Errorf("stored item %+v", item)
	}

	// Locked again, and the user dismisses the prompt.
	fake.mu.Lock()
	fake.locked, fake.dismiss = true, true
	fake.mu.Unlock()
	if _, err := s.Get("/k/two"); !errors.Is(err, ErrSecretPromptDismissed) {
		t.Errorf("Get with the prompt dismissed: %v", err)
	}
	if err := s.Set("/k/three", []byte("x")); !errors.Is(err, ErrSecretPromptDismissed) {
		t.Errorf("Set with the prompt dismissed: %v", err)
	}
	fake.mu.Lock()
	fake.locked, fake.dismiss, fake.noDefault = false, false, true
	fake.mu.Unlock()
	if err := s.Set("/k/three", []byte("x")); !errors.Is(err, ErrNoSecretService) {
		t.Errorf("Set with no default collection: %v", err)
	}
}

func TestSecretServiceStoreNoService(t *testing.T) {
	addr := startTestBus(t)
	s := NewSecretServiceStore(connectTestBus(t, addr))
	if err := s.Ping(context.Background()); !errors.Is(err, ErrNoSecretService) {
		t.Errorf("Ping with no service: %v", err)
	}
	if _, err := s.Get("x"); !errors.Is(err, ErrNoSecretService) {
		t.Errorf("Get with no service: %v", err)
	}
	if err := s.Set("x", []byte("p")); !errors.Is(err, ErrNoSecretService) {
		t.Errorf("Set with no service: %v", err)
	}
}

// TestSecretServiceStoreSessionKeyring runs the contract against the real
// keyring of the session, when asked: it writes to the user's keyring.
func TestSecretServiceStoreSessionKeyring(t *testing.T) {
	if os.Getenv("COCOON_TEST_SESSION_KEYRING") != "1" {
		t.Skip("set COCOON_TEST_SESSION_KEYRING=1 to run against the session's real keyring (it stores and deletes two test items)")
	}
	s, err := ConnectSecretService()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	testPassphraseStore(t, s)
	if err := s.Delete("/k/two"); err != nil {
		t.Error(err)
	}
}
