package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/diag"
)

// diagResult is what `diag --json` prints.
type diagResult struct {
	Path     string        `json:"path"`
	Manifest diag.Manifest `json:"manifest"`
}

// cmdDiag writes a redacted diagnostic bundle for a bug report: the
// doctor's report, the GPUs, settings, recent events, earnings totals,
// instance state, console and app log tails, with addresses, recovery
// phrases, keys, tokens and what names the user or machine replaced.
func cmdDiag(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("diag", stderr)
	var c common
	c.register(fs, "warn")
	out := fs.String("o", "", "write the bundle to `FILE` (default cocoon-provider-diag-YYYYMMDD-HHMMSS.zip in the current directory); an existing file is never overwritten")
	keepAddrs := fs.Bool("include-addresses", false, "keep TON addresses in the bundle (by default each is replaced by <address-N>)")
	asJSON := fs.Bool("json", false, "print the path and the manifest as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("diag takes no arguments, got %q; name the output file with -o FILE", fs.Arg(0))
	}
	svc, _, err := c.open(stderr)
	if err != nil {
		return err
	}
	defer svc.Close()
	path := *out
	if path == "" {
		path = "cocoon-provider-diag-" + time.Now().Format("20060102-150405") + ".zip"
	}
	// Claim the file before the slow checks: a name in use fails at once,
	// and nobody else gets the name meanwhile.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; the diagnostic bundle never overwrites a file: choose another name with -o or move that file away", path)
	}
	if err != nil {
		return fmt.Errorf("create the diagnostic bundle: %w", err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(path)
		}
	}()

	m, err := svc.DiagBundle(ctx, f, *keepAddrs)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write the diagnostic bundle %s: %w", path, err)
	}
	done = true

	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if *asJSON {
		return printJSON(stdout, diagResult{Path: path, Manifest: m})
	}
	writeDiagSummary(stdout, path, m)
	return nil
}

// writeDiagSummary prints what the bundle holds and what was hidden.
func writeDiagSummary(w io.Writer, path string, m diag.Manifest) {
	var total int64
	names := make([]string, 0, len(m.Files))
	for _, f := range m.Files {
		total += f.Size
		names = append(names, f.Name)
	}
	fmt.Fprintf(w, "Wrote the diagnostic bundle %s\n", path)
	fmt.Fprintf(w, "  %d files, %s before compression: %s\n", len(m.Files), diagSize(total), strings.Join(names, ", "))
	var hidden []string
	for _, k := range diag.Kinds() {
		if n := m.Redactions[k]; n > 0 {
			hidden = append(hidden, fmt.Sprintf("%s %d", k, n))
		}
	}
	if len(hidden) == 0 {
		hidden = append(hidden, "nothing found to hide")
	}
	fmt.Fprintf(w, "  redacted: %s\n", strings.Join(hidden, ", "))
	if m.AddressesKept {
		fmt.Fprintln(w, "  TON addresses were kept (--include-addresses)")
	} else {
		fmt.Fprintln(w, "  TON addresses were replaced by <address-N>; --include-addresses keeps them")
	}
	if len(m.Notes) > 0 {
		fmt.Fprintln(w, "  missing or cut short:")
		for _, n := range m.Notes {
			fmt.Fprintf(w, "    - %s\n", n)
		}
	}
	fmt.Fprintln(w, "manifest.txt in the bundle lists everything; look through the files before you attach it to a bug report.")
}

// diagSize formats a byte count.
func diagSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
