package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
)

// Secrets in the settings table.
//
// A secret the engine must be able to use unattended (the Telegram bot
// token: alerts go out with nobody at the keyboard, so no passphrase can
// be asked for) is stored in the database sealed with XChaCha20-Poly1305
// under a random 256-bit key kept in its own file, SecretsKeyFile in the
// data directory (mode 0600). The setting's key is the associated data,
// so a sealed value moved to another setting does not open.
//
// What this protects against: a copy of the database alone (a backup of
// the database file, a database sent along with a bug report, the
// diagnostic bundle, which never reads SecretsKeyFile and removes
// secret-looking settings besides) does not reveal the token, and a
// changed sealed value is detected rather than used.
//
// What it does not protect against: anyone who can read both files, that
// is the user's account, any program running as the user, root, or a
// backup of the whole data directory. Against those only a secret the
// user types in (the wallet keystore's passphrase) helps, and an
// unattended alert cannot wait for one.
const (
	// SecretsKeyFile holds the key that seals secrets in the database.
	SecretsKeyFile = "secrets.key"
	// SettingTelegramTokenSealed is the Telegram bot token, sealed; empty
	// or absent when none is stored.
	SettingTelegramTokenSealed = "alerts.telegram.token.sealed"
	// sealedPrefix names the sealing scheme of a stored value.
	sealedPrefix = "xchacha20poly1305:v1:"
)

// ErrSecretUnreadable: a sealed secret does not open with the key in
// SecretsKeyFile (the file was replaced, removed or the value damaged).
var ErrSecretUnreadable = errors.New("the stored Telegram token cannot be decrypted (secrets.key changed?): enter it again")

// secretsKeyPath is SecretsKeyFile in dataDir.
func secretsKeyPath(dataDir string) string { return filepath.Join(dataDir, SecretsKeyFile) }

// readSecretsKey reads dataDir's secrets key; a missing file is
// fs.ErrNotExist. A key file others can read is refused (on Unix).
func readSecretsKey(dataDir string) ([]byte, error) {
	path := secretsKeyPath(dataDir)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", SecretsKeyFile)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o, which others can read: it must be 0600 (chmod 600 it, then enter the Telegram token again)", SecretsKeyFile, perm)
	}
	key, err := io.ReadAll(io.LimitReader(f, chacha20poly1305.KeySize+1))
	if err != nil {
		return nil, err
	}
	if len(key) != chacha20poly1305.KeySize {
		return nil, fmt.Errorf("%s holds %d bytes, not a %d-byte key", SecretsKeyFile, len(key), chacha20poly1305.KeySize)
	}
	return key, nil
}

// secretsKey returns dataDir's secrets key, making one when there is
// none. The new key is written to a temporary file (created with O_EXCL,
// mode 0600) and linked into place, which fails if another process made
// one meanwhile: that one is used then. The file is never half written
// and never replaced.
func secretsKey(dataDir string) ([]byte, error) {
	if dataDir == "" {
		return nil, errors.New("no data directory configured")
	}
	key, err := readSecretsKey(dataDir)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	key = make([]byte, chacha20poly1305.KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dataDir, ".secrets.key.*") // O_EXCL, mode 0600
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return nil, err
	}
	_, werr := tmp.Write(key)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return nil, fmt.Errorf("write %s: %w", SecretsKeyFile, err)
	}
	if err := os.Link(tmp.Name(), secretsKeyPath(dataDir)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readSecretsKey(dataDir)
		}
		return nil, fmt.Errorf("create %s: %w", SecretsKeyFile, err)
	}
	if d, err := os.Open(dataDir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return key, nil
}

// sealSecret seals plain for the setting named name.
func sealSecret(key []byte, name, plain string) (string, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(plain)+chacha20poly1305.Overhead)
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(plain), []byte(name))), nil
}

// openSecret opens a value sealSecret made for the setting named name;
// any failure is ErrSecretUnreadable.
func openSecret(key []byte, name, sealed string) (string, error) {
	b64, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return "", ErrSecretUnreadable
	}
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(raw) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return "", ErrSecretUnreadable
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return "", ErrSecretUnreadable
	}
	plain, err := aead.Open(nil, raw[:chacha20poly1305.NonceSizeX], raw[chacha20poly1305.NonceSizeX:], []byte(name))
	if err != nil {
		return "", ErrSecretUnreadable
	}
	return string(plain), nil
}

// storeTelegramToken seals token into the database; "" removes it.
func storeTelegramToken(ctx context.Context, st *store.Store, dataDir, token string) error {
	if token == "" {
		return st.SetSetting(ctx, SettingTelegramTokenSealed, "")
	}
	key, err := secretsKey(dataDir)
	if err != nil {
		return fmt.Errorf("the key to encrypt the Telegram token with: %w", err)
	}
	sealed, err := sealSecret(key, SettingTelegramTokenSealed, token)
	clear(key)
	if err != nil {
		return err
	}
	return st.SetSetting(ctx, SettingTelegramTokenSealed, sealed)
}

// readTelegramToken returns the stored Telegram token; "" when none is
// stored. A token that does not open is ErrSecretUnreadable.
func readTelegramToken(ctx context.Context, st *store.Store, dataDir string) (string, error) {
	sealed, ok, err := st.Setting(ctx, SettingTelegramTokenSealed)
	if err != nil || !ok || sealed == "" {
		return "", err
	}
	key, err := readSecretsKey(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", ErrSecretUnreadable
	}
	if err != nil {
		return "", fmt.Errorf("%w (%v)", ErrSecretUnreadable, err)
	}
	defer clear(key)
	return openSecret(key, SettingTelegramTokenSealed, sealed)
}

// telegramTokenStored reports whether a Telegram token is stored.
func telegramTokenStored(ctx context.Context, st *store.Store) (bool, error) {
	v, ok, err := st.Setting(ctx, SettingTelegramTokenSealed)
	return ok && v != "", err
}
