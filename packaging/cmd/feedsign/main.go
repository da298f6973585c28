// Command feedsign makes the release signing key and signs the release
// feed that `cocoon-provider update` reads (see package update for the
// feed format).
//
//	feedsign keygen -o DIR                  write DIR/release.key (private) and DIR/release.pub
//	feedsign sign -key release.key feed.json
//	                                        check feed.json and write feed.json.sig
//	feedsign verify -pub KEY feed.json      check feed.json.sig and the feed
//
// release.key is the base64 Ed25519 seed, mode 0600: keep it offline.
// release.pub is the base64 public key that release builds pin:
//
//	go build -ldflags "-X github.com/cocoon-provider/cocoon-provider/update.releaseKey=$(cat release.pub)"
//
// Publish feed.json and feed.json.sig side by side. The signature covers
// the exact bytes of feed.json: any later edit needs a new signature.
package main

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cocoon-provider/cocoon-provider/update"
)

const usage = `feedsign makes the release signing key and signs the release feed.

Usage:
  feedsign keygen -o DIR                  write DIR/release.key (private, 0600) and DIR/release.pub
  feedsign sign -key release.key [-o feed.json.sig] feed.json
                                          check the feed and sign its exact bytes
  feedsign verify -pub KEY [-sig feed.json.sig] feed.json
                                          check the signature (KEY: base64 public key or a file holding it)
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	var err error
	switch args[0] {
	case "keygen":
		err = keygen(args[1:], stdout, stderr)
	case "sign":
		err = sign(args[1:], stdout, stderr)
	case "verify":
		err = verify(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "feedsign: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintln(stderr, "feedsign:", err)
		return 1
	}
	return 0
}

func flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("feedsign "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses flags that may come before or after the one file argument.
func parse(fs *flag.FlagSet, args []string) (string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	if len(pos) != 1 {
		return "", fmt.Errorf("want one feed file, have %d arguments", len(pos))
	}
	return pos[0], nil
}

func keygen(args []string, stdout, stderr io.Writer) error {
	fs := flags("keygen", stderr)
	dir := fs.String("o", "", "directory for release.key and release.pub")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() != 0 {
		return errors.New("keygen: give the output directory with -o DIR")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	keyPath, pubPath := filepath.Join(*dir, "release.key"), filepath.Join(*dir, "release.pub")
	// Never overwrite a key: releases signed with it would need a new build.
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("keygen: %s exists; a new key would orphan every build that pins the old one, so move it away first if you mean it", p)
		}
	}
	f, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, update.EncodeKey(priv.Seed())); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(pubPath, []byte(update.EncodeKey(pub)+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (private: keep it offline) and %s\npublic key %s\npin it in release builds with\n  -ldflags \"-X github.com/cocoon-provider/cocoon-provider/update.releaseKey=%s\"\n",
		keyPath, pubPath, update.EncodeKey(pub), update.EncodeKey(pub))
	return nil
}

func sign(args []string, stdout, stderr io.Writer) error {
	fs := flags("sign", stderr)
	keyFile := fs.String("key", "", "private key file (release.key)")
	out := fs.String("o", "", "signature file (default FEED.sig)")
	feedPath, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *keyFile == "" {
		return errors.New("sign: give the private key with -key release.key")
	}
	raw, err := readKeyFile(*keyFile)
	if err != nil {
		return err
	}
	key, err := update.ParsePrivateKey(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", *keyFile, err)
	}
	feed, err := os.ReadFile(feedPath)
	if err != nil {
		return err
	}
	if len(feed) > update.MaxFeedSize {
		return fmt.Errorf("%s is %d bytes; the app refuses feeds over %d", feedPath, len(feed), update.MaxFeedSize)
	}
	// Sign only what the app can use.
	f, err := update.Parse(feed)
	if err != nil {
		return fmt.Errorf("%s: %w", feedPath, err)
	}
	sig := update.Sign(key, feed)
	if err := update.Verify(feed, sig, []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}); err != nil {
		return err
	}
	if *out == "" {
		*out = feedPath + ".sig"
	}
	if err := os.WriteFile(*out, sig, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signed %s (app %s, %d downloads, %d images, published %s) with key %s\nwrote %s\n",
		feedPath, f.App.Version, len(f.App.Downloads), len(f.Images), f.Published.UTC().Format("2006-01-02T15:04:05Z"),
		update.EncodeKey(key.Public().(ed25519.PublicKey)), *out)
	return nil
}

func verify(args []string, stdout, stderr io.Writer) error {
	fs := flags("verify", stderr)
	pubArg := fs.String("pub", "", "public key: base64, or a file holding it (release.pub)")
	sigPath := fs.String("sig", "", "signature file (default FEED.sig)")
	feedPath, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *pubArg == "" {
		return errors.New("verify: give the public key with -pub KEY")
	}
	pubText := *pubArg
	if _, err := os.Stat(pubText); err == nil {
		if pubText, err = readKeyFile(pubText); err != nil {
			return err
		}
	}
	pub, err := update.ParsePublicKey(pubText)
	if err != nil {
		return err
	}
	if *sigPath == "" {
		*sigPath = feedPath + ".sig"
	}
	feed, err := os.ReadFile(feedPath)
	if err != nil {
		return err
	}
	sig, err := os.ReadFile(*sigPath)
	if err != nil {
		return err
	}
	if err := update.Verify(feed, sig, []ed25519.PublicKey{pub}); err != nil {
		switch {
		case errors.Is(err, update.ErrSignatureFile):
			return fmt.Errorf("%s is not a signature file: it should hold base64 Ed25519 signatures, one a line, at most %d", *sigPath, update.MaxSignatures)
		case errors.Is(err, update.ErrSignature):
			return fmt.Errorf("%s: the signature in %s does not verify with key %s: the feed changed after signing, or another key signed it", feedPath, *sigPath, update.EncodeKey(pub))
		case errors.Is(err, update.ErrUnsigned):
			return fmt.Errorf("%s holds no signature", *sigPath)
		}
		return err
	}
	f, err := update.Parse(feed)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: signature good (key %s); app %s, %d downloads, %d images, published %s\n",
		feedPath, update.EncodeKey(pub), f.App.Version, len(f.App.Downloads), len(f.Images), f.Published.UTC().Format("2006-01-02T15:04:05Z"))
	return nil
}

// readKeyFile reads a small key file.
func readKeyFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if len(b) > 1024 {
		return "", fmt.Errorf("%s is %d bytes, too large for a key file", path, len(b))
	}
	return strings.TrimSpace(string(b)), nil
}
