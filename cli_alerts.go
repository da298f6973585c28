package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cocoon-provider/cocoon-provider/engine/remote"
)

// cmdAlerts is `alerts telegram …`: the Telegram alerts of the app or
// service running with this data directory, set from a terminal (a
// headless server has no Settings tab). It talks to the running engine
// over its unix socket, the only way the bot token may travel.
func cmdAlerts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "telegram" {
		fmt.Fprintln(stderr, `usage: cocoon-provider alerts telegram [--chat ID] [--on | --off]
                         [--token-file FILE | --token-stdin | --remove-token] [--test]
  Sends the app's alerts to a Telegram chat through your bot. The token comes
  from a file or standard input (never the command line, which the shell keeps);
  it is stored encrypted. The app or "run --headless" must be running.`)
		return exitError(2)
	}
	fs := newFlagSet("alerts telegram", stderr)
	var c common
	c.register(fs, "warn")
	chat := fs.String("chat", "", "the chat id: a number (negative for a group) or @channelname")
	on := fs.Bool("on", false, "send alerts to Telegram")
	off := fs.Bool("off", false, "stop sending alerts to Telegram")
	tokenFile := fs.String("token-file", "", "read the bot token from this file")
	tokenStdin := fs.Bool("token-stdin", false, "read the bot token from standard input")
	removeToken := fs.Bool("remove-token", false, "remove the stored bot token")
	test := fs.Bool("test", false, "send a test message")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		// Not quoted back: it may be a token typed by mistake.
		return errors.New("alerts telegram takes no arguments: give the token with --token-file or --token-stdin (a token typed on the command line stays in the shell's history: revoke it with @BotFather)")
	}
	n := 0
	for _, b := range []bool{*tokenFile != "", *tokenStdin, *removeToken} {
		if b {
			n++
		}
	}
	switch {
	case *on && *off:
		return errors.New("give --on or --off, not both")
	case n > 1:
		return errors.New("give one of --token-file, --token-stdin and --remove-token")
	}
	token, setToken := "", n == 1
	switch {
	case *tokenFile != "":
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
		clear(b)
	case *tokenStdin:
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("--token-stdin: %w", err)
		}
		token = strings.TrimSpace(line)
	}
	if setToken && !*removeToken && token == "" {
		return errors.New("the bot token is empty: give the one @BotFather gave you")
	}

	client, err := remote.Dial(ctx, "unix://"+remote.SocketPath(c.dataDir), "", "")
	if err != nil {
		return fmt.Errorf("no Cocoon Provider runs with the data directory %s (%v): start it (the desktop app, or `cocoon-provider run --headless`) and run this again", c.dataDir, err)
	}
	defer client.Close()
	if setToken {
		if err := client.SetTelegramToken(ctx, token); err != nil {
			return err
		}
		if token == "" {
			fmt.Fprintln(stdout, "The Telegram bot token was removed.")
		} else {
			fmt.Fprintln(stdout, "The Telegram bot token is stored, encrypted.")
		}
	}
	set, err := client.Settings(ctx)
	if err != nil {
		return err
	}
	if *chat != "" || *on || *off {
		if *chat != "" {
			set.TelegramChatID = strings.TrimSpace(*chat)
		}
		if *on || *off {
			set.TelegramEnabled = *on
		}
		if err := client.SetSettings(ctx, set); err != nil {
			return err
		}
		if set, err = client.Settings(ctx); err != nil {
			return err
		}
	}
	if *test {
		if err := client.TestTelegram(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "A test message was sent: look for it in the chat.")
	}
	state := "off"
	if set.TelegramEnabled {
		state = "on"
	}
	stored := "no token stored"
	if set.TelegramTokenSet {
		stored = "a token is stored"
	}
	fmt.Fprintf(stdout, "Telegram alerts: %s · chat %s · %s\n", state, orNone(set.TelegramChatID), stored)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
