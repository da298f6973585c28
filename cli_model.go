package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/cocoon-provider/cocoon-provider/engine/model"
	"github.com/cocoon-provider/cocoon-provider/internal/bytesize"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

const modelUsage = `Usage:
  cocoon-provider model fetch NAME@COMMIT:VERITY [--url U] [--verity-url U] [--sha256 HEX] [--size BYTES]
                              [--mirror TEMPLATE] [--allow HEX[,HEX…] | --root-config FILE | --unchecked] [--json]
      check the model hash against the allowed ones, then download the model tar (build-model's
      <MODEL_PATH>.tar), check its dm-verity root hash is VERITY, build (or fetch and check) its
      verity file, and store both in <data dir>/models/. Free disk space is checked first; an
      interrupted download resumes on the next fetch. --mirror is an address template with
      {name} {path} {commit} {verity}, used when --url is not given.
  cocoon-provider model list [--json]
      the models here
  cocoon-provider model check NAME@COMMIT:VERITY [--allow HEX[,HEX…] | --root-config FILE] [--json]
      the model hash, whether the allow-list has it, and, when the model is here, whether its
      files still match
  cocoon-provider model remove NAME@COMMIT
      delete a stored model

The allowed model hashes are the root contract's (/jsonstats root_contract_config.model_hashes):
--allow takes them as hex, --root-config reads the root contract's data cell (BOC file).
`

func cmdModel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runSubcommand(ctx, "model", modelUsage, []subcommand{
		{"fetch", cmdModelFetch},
		{"list", cmdModelList},
		{"check", cmdModelCheck},
		{"remove", cmdModelRemove},
	}, args, stdout, stderr)
}

// modelStore opens <data dir>/models.
func modelStore(c *common, mirror string) (*model.Store, error) {
	if c.dataDir == "" {
		return nil, errors.New("no data directory: give --data-dir DIR")
	}
	o := model.Options{Dir: filepath.Join(c.dataDir, "models")}
	if mirror != "" {
		o.Mirrors = []string{mirror}
	}
	return model.New(o)
}

// allowFlags are --allow and --root-config.
type allowFlags struct{ list, rootConfig *string }

func registerAllow(fs *flag.FlagSet) allowFlags {
	return allowFlags{
		list:       fs.String("allow", "", "allowed model hashes, comma-separated (64 hex digits each)"),
		rootConfig: fs.String("root-config", "", "the root contract's data cell as a BOC file; its model hashes are used"),
	}
}

// hashes returns the allow-list; given is false when neither flag is set.
func (a allowFlags) hashes() (hs []wallet.Hash, given bool, err error) {
	switch {
	case *a.list != "" && *a.rootConfig != "":
		return nil, false, errors.New("give --allow or --root-config, not both")
	case *a.list != "":
		for _, s := range strings.Split(*a.list, ",") {
			h, err := wallet.ParseHash(strings.TrimSpace(s))
			if err != nil {
				return nil, false, fmt.Errorf("--allow: %q is not a model hash (64 hex digits)", s)
			}
			hs = append(hs, h)
		}
		return hs, true, nil
	case *a.rootConfig != "":
		b, err := os.ReadFile(*a.rootConfig)
		if err != nil {
			return nil, false, fmt.Errorf("--root-config: %w", err)
		}
		rc, err := wallet.ParseRootConfigBOC(b)
		if err != nil {
			return nil, false, fmt.Errorf("--root-config %s: %w", *a.rootConfig, err)
		}
		return rc.ModelHashes, true, nil
	}
	return nil, false, nil
}

func cmdModelFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("model fetch", stderr)
	var c common
	c.register(fs, "warn")
	u := fs.String("url", "", "address of the model tar")
	vu := fs.String("verity-url", "", "address of its .tar.verity (default: built here from the tar)")
	sum := fs.String("sha256", "", "the tar's SHA-256, when known")
	size := fs.Int64("size", 0, "the tar's size in bytes, when known")
	mirror := fs.String("mirror", "", "address template used without --url, e.g. https://host/{path}@{commit}.tar")
	unchecked := fs.Bool("unchecked", false, "skip the allow-list check (development and test roots only)")
	asJSON := fs.Bool("json", false, "print JSON")
	af := registerAllow(fs)
	arg, err := parseWithArg(fs, args)
	if err != nil {
		return err
	}
	spec, err := model.Parse(arg)
	if err != nil {
		return err
	}
	hs, given, err := af.hashes()
	if err != nil {
		return err
	}
	if !given && !*unchecked {
		return fmt.Errorf("model fetch: give the allowed model hashes (--allow or --root-config), or --unchecked for development; model %s has hash %s", spec, spec.Hash())
	}
	st, err := modelStore(&c, *mirror)
	if err != nil {
		return err
	}
	last := map[string]int{}
	m, err := st.Fetch(ctx, spec, model.Source{URL: *u, VerityURL: *vu, SHA256: *sum, Size: *size},
		model.Allow{Hashes: hs, Unchecked: *unchecked}, func(stage string, done, total int64) {
			if total <= 0 {
				return
			}
			pct := int(done * 100 / total)
			if l, ok := last[stage]; !ok || pct/10 != l/10 {
				last[stage] = pct
				fmt.Fprintf(stderr, "%s %d%%\n", stage, pct)
			}
		})
	if err != nil {
		return err
	}
	if *asJSON {
		return writeModelJSON(stdout, m)
	}
	fmt.Fprintf(stdout, "Model %s stored in %s (%s; model hash %s).\n", m.Spec, m.Dir, bytesize.Format(m.TarSize), m.ModelHash)
	if !m.AllowChecked {
		fmt.Fprintln(stdout, "It was NOT checked against the allow-list (development and tests only).")
	}
	return nil
}

func writeModelJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdModelList(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("model list", stderr)
	var c common
	c.register(fs, "warn")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseWithArg(fs, args); err != nil {
		return err
	}
	st, err := modelStore(&c, "")
	if err != nil {
		return err
	}
	list, err := st.List()
	if err != nil {
		return err
	}
	if *asJSON {
		if list == nil {
			list = []model.Model{}
		}
		return writeModelJSON(stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "No models here. Fetch one with: cocoon-provider model fetch NAME@COMMIT:VERITY --url URL --allow HEX")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tSIZE\tFETCHED\tALLOW-LIST")
	for _, m := range list {
		checked := "not checked"
		if m.AllowChecked {
			checked = "allowed"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Spec, bytesize.Format(m.TarSize), m.FetchedAt.Local().Format("2006-01-02 15:04"), checked)
	}
	return tw.Flush()
}

// modelCheck is the JSON of model check.
type modelCheck struct {
	Model     string `json:"model"`
	ModelHash string `json:"model_hash"`
	Allowed   *bool  `json:"allowed,omitempty"` // absent: no allow-list given
	Stored    bool   `json:"stored"`
	FilesOK   *bool  `json:"files_ok,omitempty"`
	Problem   string `json:"problem,omitempty"`
}

func cmdModelCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("model check", stderr)
	var c common
	c.register(fs, "warn")
	asJSON := fs.Bool("json", false, "print JSON")
	af := registerAllow(fs)
	arg, err := parseWithArg(fs, args)
	if err != nil {
		return err
	}
	spec, err := model.Parse(arg)
	if err != nil {
		return err
	}
	hs, given, err := af.hashes()
	if err != nil {
		return err
	}
	res := modelCheck{Model: spec.String(), ModelHash: spec.Hash().String()}
	var problems []error
	if given {
		err := model.CheckAllowed(spec, hs)
		ok := err == nil
		res.Allowed = &ok
		if err != nil {
			problems = append(problems, err)
		}
	}
	if c.dataDir != "" {
		if st, err := modelStore(&c, ""); err == nil {
			if _, err := st.Get(spec); err == nil {
				res.Stored = true
				err := st.Verify(ctx, spec, nil)
				ok := err == nil
				res.FilesOK = &ok
				if err != nil {
					problems = append(problems, err)
				}
			}
		}
	}
	if len(problems) > 0 {
		res.Problem = errors.Join(problems...).Error()
	}
	if *asJSON {
		if err := writeModelJSON(stdout, res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "Model %s\nModel hash %s\n", res.Model, res.ModelHash)
		switch {
		case res.Allowed == nil:
			fmt.Fprintln(stdout, "Allow-list: not checked (give --allow or --root-config)")
		case *res.Allowed:
			fmt.Fprintln(stdout, "Allow-list: allowed")
		default:
			fmt.Fprintln(stdout, "Allow-list: NOT allowed")
		}
		switch {
		case !res.Stored:
			fmt.Fprintln(stdout, "Files: not here")
		case *res.FilesOK:
			fmt.Fprintln(stdout, "Files: here, and they match the verity hash")
		default:
			fmt.Fprintln(stdout, "Files: here, but they do NOT match")
		}
	}
	if len(problems) > 0 {
		if *asJSON {
			return exitError(1)
		}
		return errors.Join(problems...)
	}
	return nil
}

func cmdModelRemove(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("model remove", stderr)
	var c common
	c.register(fs, "warn")
	arg, err := parseWithArg(fs, args)
	if err != nil {
		return err
	}
	if arg == "" {
		return errors.New("model remove: give the model as NAME@COMMIT, as model list shows it")
	}
	st, err := modelStore(&c, "")
	if err != nil {
		return err
	}
	if err := st.Remove(arg); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Model %s removed.\n", arg)
	return nil
}
