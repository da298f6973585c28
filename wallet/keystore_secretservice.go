package wallet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

// The parts of the freedesktop.org Secret Service API
// (https://specifications.freedesktop.org/secret-service-spec/) that
// SecretServiceStore uses. GNOME Keyring, KeePassXC and KWallet (5.97+)
// provide it on the session bus.
const (
	secretServiceName       = "org.freedesktop.secrets"
	secretServicePath       = dbus.ObjectPath("/org/freedesktop/secrets")
	secretServiceIface      = "org.freedesktop.Secret.Service"
	secretCollectionIface   = "org.freedesktop.Secret.Collection"
	secretItemIface         = "org.freedesktop.Secret.Item"
	secretSessionIface      = "org.freedesktop.Secret.Session"
	secretPromptIface       = "org.freedesktop.Secret.Prompt"
	secretNoPrompt          = dbus.ObjectPath("/")
	secretSchemaAttr        = "xdg:schema"
	secretSchema            = "org.cocoon_provider.KeystorePassphrase"
	secretAppAttr           = "application"
	secretIDAttr            = "keystore"
	secretApp               = "cocoon-provider"
	secretContentType       = "text/plain; charset=utf8"
	secretServiceCallLimit  = 25 * time.Second // D-Bus's own default reply timeout
	secretServicePromptWait = 2 * time.Minute  // the user may have to type a keyring password
)

// ErrNoSecretService: no Secret Service answers on the session bus, or it
// has no default collection (keyring) to store into.
var ErrNoSecretService = errors.New("no usable Secret Service (desktop keyring) on the session bus")

// ErrSecretPromptDismissed: the user dismissed the keyring's unlock or
// confirmation prompt.
var ErrSecretPromptDismissed = errors.New("the keyring prompt was dismissed")

// secretValue is the Secret Service's Secret struct, D-Bus type (oayays).
type secretValue struct {
	Session     dbus.ObjectPath
	Parameters  []byte
	Value       []byte
	ContentType string
}

// SecretServiceStore is a PassphraseStore in the desktop keyring, over the
// freedesktop.org Secret Service D-Bus API. Items carry the attributes
// application=cocoon-provider, keystore=<id> and the xdg:schema
// org.cocoon_provider.KeystorePassphrase (so `secret-tool lookup application
// cocoon-provider keystore ID` finds them), and are stored in the default
// collection. A locked keyring is unlocked through the keyring's own prompt.
//
// Secrets travel with the "plain" session algorithm: unencrypted over the
// user's own session bus, which only that user (and root) can connect to, as
// most Secret Service clients do. D-Bus messages are buffers that godbus
// allocates and this code cannot wipe.
type SecretServiceStore struct {
	conn    *dbus.Conn
	ownConn bool
	// PromptTimeout bounds how long Get, Set and Delete wait for the user to
	// answer a keyring prompt (default 2 minutes).
	PromptTimeout time.Duration
}

var _ PassphraseStore = (*SecretServiceStore)(nil)

// NewSecretServiceStore uses conn, a connection to a session bus; closing it
// stays the caller's job.
func NewSecretServiceStore(conn *dbus.Conn) *SecretServiceStore {
	return &SecretServiceStore{conn: conn, PromptTimeout: secretServicePromptWait}
}

// ConnectSecretService connects to the user's session bus and checks that a
// Secret Service answers there. Close the store to close the connection.
func ConnectSecretService() (*SecretServiceStore, error) {
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoSecretService, err)
	}
	s := NewSecretServiceStore(conn)
	s.ownConn = true
	if err := s.Ping(context.Background()); err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the bus connection if ConnectSecretService opened it.
func (s *SecretServiceStore) Close() error {
	if s.ownConn {
		return s.conn.Close()
	}
	return nil
}

// Ping checks that a Secret Service answers on the bus, starting it if the
// bus can activate it.
func (s *SecretServiceStore) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, secretServiceCallLimit)
	defer cancel()
	if err := s.service().CallWithContext(ctx, "org.freedesktop.DBus.Peer.Ping", 0).Err; err != nil {
		return fmt.Errorf("%w: %w", ErrNoSecretService, err)
	}
	return nil
}

func (s *SecretServiceStore) service() dbus.BusObject {
	return s.conn.Object(secretServiceName, secretServicePath)
}

func (s *SecretServiceStore) object(path dbus.ObjectPath) dbus.BusObject {
	return s.conn.Object(secretServiceName, path)
}

func secretAttrs(id string) map[string]string {
	return map[string]string{secretSchemaAttr: secretSchema, secretAppAttr: secretApp, secretIDAttr: id}
}

// secretServiceErr says that an error came from the Secret Service.
func secretServiceErr(op string, err error) error {
	var derr dbus.Error
	if errors.As(err, &derr) && derr.Name == "org.freedesktop.DBus.Error.ServiceUnknown" {
		return fmt.Errorf("secret service %s: %w: %w", op, ErrNoSecretService, err)
	}
	return fmt.Errorf("secret service %s: %w", op, err)
}

// callContext bounds one Get, Set or Delete, prompt included.
func (s *SecretServiceStore) callContext() (context.Context, context.CancelFunc) {
	wait := s.PromptTimeout
	if wait <= 0 {
		wait = secretServicePromptWait
	}
	return context.WithTimeout(context.Background(), wait+secretServiceCallLimit)
}

// openSession opens a "plain" session; the caller closes it.
func (s *SecretServiceStore) openSession(ctx context.Context) (dbus.ObjectPath, error) {
	var out dbus.Variant
	var session dbus.ObjectPath
	err := s.service().CallWithContext(ctx, secretServiceIface+".OpenSession", 0, "plain", dbus.MakeVariant("")).Store(&out, &session)
	if err != nil {
		return "", secretServiceErr("open session", err)
	}
	return session, nil
}

func (s *SecretServiceStore) closeSession(session dbus.ObjectPath) {
	ctx, cancel := context.WithTimeout(context.Background(), secretServiceCallLimit)
	defer cancel()
	// A session the service cannot close ends with the connection anyway.
	s.object(session).CallWithContext(ctx, secretSessionIface+".Close", 0)
}

// items finds the items stored for id, unlocking locked ones (which may
// prompt the user).
func (s *SecretServiceStore) items(ctx context.Context, id string) ([]dbus.ObjectPath, error) {
	var unlocked, locked []dbus.ObjectPath
	if err := s.service().CallWithContext(ctx, secretServiceIface+".SearchItems", 0, secretAttrs(id)).Store(&unlocked, &locked); err != nil {
		return nil, secretServiceErr("search", err)
	}
	if len(locked) == 0 {
		return unlocked, nil
	}
	more, err := s.unlock(ctx, locked)
	if err != nil {
		return nil, err
	}
	return append(unlocked, more...), nil
}

// unlock unlocks objects, prompting if the service asks to, and returns
// those unlocked.
func (s *SecretServiceStore) unlock(ctx context.Context, objects []dbus.ObjectPath) ([]dbus.ObjectPath, error) {
	var unlocked []dbus.ObjectPath
	var prompt dbus.ObjectPath
	if err := s.service().CallWithContext(ctx, secretServiceIface+".Unlock", 0, objects).Store(&unlocked, &prompt); err != nil {
		return nil, secretServiceErr("unlock", err)
	}
	if prompt == secretNoPrompt {
		return unlocked, nil
	}
	result, err := s.prompt(ctx, prompt)
	if err != nil {
		return nil, err
	}
	var more []dbus.ObjectPath
	if err := dbus.Store([]any{result.Value()}, &more); err != nil {
		return nil, secretServiceErr("unlock", fmt.Errorf("unexpected prompt result %v", result))
	}
	return append(unlocked, more...), nil
}

// prompt runs a Secret Service prompt and waits for its Completed signal.
func (s *SecretServiceStore) prompt(ctx context.Context, prompt dbus.ObjectPath) (dbus.Variant, error) {
	match := []dbus.MatchOption{
		dbus.WithMatchObjectPath(prompt),
		dbus.WithMatchInterface(secretPromptIface),
		dbus.WithMatchMember("Completed"),
	}
	if err := s.conn.AddMatchSignalContext(ctx, match...); err != nil {
		return dbus.Variant{}, secretServiceErr("prompt", err)
	}
	defer s.conn.RemoveMatchSignal(match...)
	signals := make(chan *dbus.Signal, 4)
	s.conn.Signal(signals)
	defer s.conn.RemoveSignal(signals)
	// The window id is empty: the prompt has no parent window to attach to.
	if err := s.object(prompt).CallWithContext(ctx, secretPromptIface+".Prompt", 0, "").Err; err != nil {
		return dbus.Variant{}, secretServiceErr("prompt", err)
	}
	for {
		select {
		case sig, ok := <-signals:
			if !ok {
				return dbus.Variant{}, secretServiceErr("prompt", errors.New("the bus connection closed"))
			}
			if sig.Path != prompt || sig.Name != secretPromptIface+".Completed" {
				continue
			}
			var dismissed bool
			var result dbus.Variant
			if err := dbus.Store(sig.Body, &dismissed, &result); err != nil {
				return dbus.Variant{}, secretServiceErr("prompt", err)
			}
			if dismissed {
				return dbus.Variant{}, ErrSecretPromptDismissed
			}
			return result, nil
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), secretServiceCallLimit)
			s.object(prompt).CallWithContext(dctx, secretPromptIface+".Dismiss", 0)
			cancel()
			return dbus.Variant{}, secretServiceErr("prompt", fmt.Errorf("no answer to the keyring prompt: %w", ctx.Err()))
		}
	}
}

// collection returns the default collection, unlocked.
func (s *SecretServiceStore) collection(ctx context.Context) (dbus.ObjectPath, error) {
	var coll dbus.ObjectPath
	if err := s.service().CallWithContext(ctx, secretServiceIface+".ReadAlias", 0, "default").Store(&coll); err != nil {
		return "", secretServiceErr("find the default keyring", err)
	}
	if coll == secretNoPrompt {
		return "", fmt.Errorf("secret service: %w: there is no default keyring; create one in the keyring app (such as Seahorse or KeePassXC)", ErrNoSecretService)
	}
	unlocked, err := s.unlock(ctx, []dbus.ObjectPath{coll})
	if err != nil {
		return "", err
	}
	if len(unlocked) == 0 {
		return "", secretServiceErr("unlock the default keyring", errors.New("it stayed locked"))
	}
	return coll, nil
}

// Get returns the passphrase stored for id, or ErrPassphraseNotStored.
func (s *SecretServiceStore) Get(id string) ([]byte, error) {
	ctx, cancel := s.callContext()
	defer cancel()
	items, err := s.items(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, ErrPassphraseNotStored
	}
	session, err := s.openSession(ctx)
	if err != nil {
		return nil, err
	}
	defer s.closeSession(session)
	var secret secretValue
	if err := s.object(items[0]).CallWithContext(ctx, secretItemIface+".GetSecret", 0, session).Store(&secret); err != nil {
		return nil, secretServiceErr("read the passphrase", err)
	}
	if len(secret.Value) == 0 {
		return nil, ErrPassphraseNotStored
	}
	return secret.Value, nil
}

// Set stores p for id in the default collection, replacing what was there.
func (s *SecretServiceStore) Set(id string, p []byte) error {
	if len(p) == 0 {
		return ErrEmptyPassphrase
	}
	ctx, cancel := s.callContext()
	defer cancel()
	coll, err := s.collection(ctx)
	if err != nil {
		return err
	}
	session, err := s.openSession(ctx)
	if err != nil {
		return err
	}
	defer s.closeSession(session)
	props := map[string]dbus.Variant{
		secretItemIface + ".Label":      dbus.MakeVariant("Cocoon Provider keystore passphrase (" + id + ")"),
		secretItemIface + ".Attributes": dbus.MakeVariant(secretAttrs(id)),
	}
	secret := secretValue{Session: session, Parameters: []byte{}, Value: p, ContentType: secretContentType}
	var item, prompt dbus.ObjectPath
	if err := s.object(coll).CallWithContext(ctx, secretCollectionIface+".CreateItem", 0, props, secret, true).Store(&item, &prompt); err != nil {
		return secretServiceErr("store the passphrase", err)
	}
	if prompt != secretNoPrompt {
		if _, err := s.prompt(ctx, prompt); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes what is stored for id; nothing stored is not an error.
func (s *SecretServiceStore) Delete(id string) error {
	ctx, cancel := s.callContext()
	defer cancel()
	items, err := s.items(ctx, id)
	if err != nil {
		return err
	}
	for _, item := range items {
		var prompt dbus.ObjectPath
		if err := s.object(item).CallWithContext(ctx, secretItemIface+".Delete", 0).Store(&prompt); err != nil {
			return secretServiceErr("delete the passphrase", err)
		}
		if prompt != secretNoPrompt {
			if _, err := s.prompt(ctx, prompt); err != nil {
				return err
			}
		}
	}
	return nil
}
