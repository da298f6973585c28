package launch

import (
	"fmt"
	"io"
	"strings"

	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
)

// Text writes the plan for a person: the host's requirements, then the
// numbered steps, the host-wide ones first and then each instance's, each
// ending in "would do" or "blocked because …".
func Text(w io.Writer, p Plan) error {
	var b strings.Builder
	host := p.Host.Hostname
	if host == "" {
		host = "this host"
	}
	if p.Mode == ModeProduction || p.Mode == "" {
		fmt.Fprintf(&b, "Production launch plan for %s (dry run: nothing was changed)\n", host)
	} else {
		fmt.Fprintf(&b, "Launch plan in %s for %s (dry run: nothing was changed)\n", p.Mode, host)
		fmt.Fprintf(&b, "FOR DEBUGGING ONLY: the image hash of this launch is not the production one; the network will not accept this worker, and it earns nothing.\n")
	}
	fmt.Fprintf(&b, "%s\n\nWhat production needs of this host:\n", p.Production.Summary)
	for _, c := range p.Requirements {
		fmt.Fprintf(&b, "  %-7s %s: %s\n", statusWord(c.Status), c.Title, c.Observed)
		if c.Status != hostcheck.StatusOK && c.Fix != "" {
			fmt.Fprintf(&b, "          fix: %s\n", c.Fix)
		}
	}
	b.WriteString("\nSteps:\n")
	last := -1
	for _, s := range p.Steps {
		if s.Instance != nil && *s.Instance != last {
			last = *s.Instance
			for _, in := range p.Instances {
				if in.Number == last {
					fmt.Fprintf(&b, "\nInstance %d: GPU %s (%s), stats port %d, ssh port %d, vsock CID %d, files in %s\n",
						in.Number, in.GPU, in.GPUName, in.StatsPort, in.SSHPort, in.CID, in.Dir)
				}
			}
		}
		writeStep(&b, s)
	}
	b.WriteString("\n")
	if p.Ready {
		b.WriteString("Nothing blocks this launch.\n")
	} else {
		n := 0
		for _, s := range p.Steps {
			if !s.WouldDo() {
				n++
			}
		}
		fmt.Fprintf(&b, "%d of %d steps are blocked.\n", n, len(p.Steps))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeStep(b *strings.Builder, s Step) {
	fmt.Fprintf(b, "%3d. %s\n", s.Number, s.Title)
	for _, d := range s.Details {
		fmt.Fprintf(b, "       %s\n", d)
	}
	for _, f := range s.Files {
		switch {
		case f.Sparse:
			fmt.Fprintf(b, "       create %s (%s, sparse, %d GiB; %s)\n", f.Path, f.Mode, f.Size>>30, f.Note)
		case f.From != "" && len(f.Changes) > 0:
			fmt.Fprintf(b, "       write %s (%s) from %s, rewritten (%s):\n", f.Path, f.Mode, f.From, f.Note)
		case f.From != "":
			fmt.Fprintf(b, "       write %s (%s) from %s (%s)\n", f.Path, f.Mode, f.From, f.Note)
		default:
			fmt.Fprintf(b, "       write %s (%s; %s):\n", f.Path, f.Mode, f.Note)
		}
		for _, l := range f.Lines {
			fmt.Fprintf(b, "         %s\n", l)
		}
		for _, l := range f.Changes {
			fmt.Fprintf(b, "         %s\n", l)
		}
	}
	if len(s.Argv) > 0 {
		b.WriteString("       run:\n")
		for _, l := range commandLines(s.Argv) {
			fmt.Fprintf(b, "         %s\n", l)
		}
	}
	if s.WouldDo() {
		b.WriteString("     → would do\n")
		return
	}
	if len(s.Blocked) == 1 {
		fmt.Fprintf(b, "     → blocked because %s\n", s.Blocked[0])
		return
	}
	b.WriteString("     → blocked because:\n")
	for _, r := range s.Blocked {
		fmt.Fprintf(b, "         - %s\n", r)
	}
}

// commandLines words argv one option per line, as a shell would take it
// with backslash continuations.
func commandLines(argv []string) []string {
	var lines []string
	cur := shellQuote(argv[0])
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		if strings.HasPrefix(a, "-") {
			lines = append(lines, cur+" \\")
			cur = a
			if i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "-") {
				i++
				cur += " " + shellQuote(argv[i])
			}
			continue
		}
		cur += " " + shellQuote(a)
	}
	return append(lines, cur)
}

// shellQuote single-quotes a word that a POSIX shell would split or expand.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func statusWord(s hostcheck.Status) string {
	switch s {
	case hostcheck.StatusOK:
		return "ok"
	case hostcheck.StatusWarn:
		return "warn"
	case hostcheck.StatusFail:
		return "MISSING"
	}
	return "unknown"
}
