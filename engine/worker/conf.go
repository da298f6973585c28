package worker

import (
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/ini.v1"
)

// Defaults of the official launcher for worker.conf (§2.1).
const (
	DefaultModel               = "Qwen/Qwen3-0.6B"
	DefaultRootContractAddress = "EQBcXvP9DUA4k5tqUapcilt4kZnBzF0Ts7OW0Yp5FI0aN7g0"
	DefaultWorkerCoefficient   = 1000
	DefaultHTTPPort            = 12000
	DefaultSSHPort             = 12005
	DefaultVsockCID            = 6
	DefaultExternalIP          = "10.0.2.2"
	DefaultExternalWorkerPort  = 11001
	DefaultExternalClientPort  = 11002

	// MaxWorkerCoefficient is the first coefficient the proxy rejects (§8.2).
	MaxWorkerCoefficient = 1_000_000_000

	// instanceStride is the per-instance offset of ports and CIDs (§3.4).
	instanceStride = 10
)

// Release-relative default paths (§1.1, §2.1).
const (
	releaseFullTONConfig = "spec/mainnet-full-ton-config.json"
	releaseBaseTONConfig = "spec/mainnet-base-ton-config.json"
	releaseImagesProd    = "images/prod"
	releaseImagesTest    = "images/test"
	releaseBuildDir      = "cmake-build-default-tdx"
)

// confSection is the section the launcher reads; Python's configparser
// merges its [DEFAULT] section into every other one.
const (
	confSection        = "node"
	confDefaultSection = "DEFAULT"
)

// Conf is a worker.conf as the official launcher interprets it (§2.1),
// with defaults applied. Paths are as resolved by ConfEnv.
type Conf struct {
	Type                string    // "worker"
	OwnerAddress        string    // OWNER_ADDRESS
	Model               ModelSpec // <hf-name>[@<commit>[:<verity-hash>]]
	GPU                 string    // PCI address as written (passed to QEMU unnormalised)
	NodeWalletKey       Secret    `json:"-"` // NODE_WALLET_KEY, 32 bytes base64; empty in fake-TON if unset
	HFToken             Secret    `json:"-"` // HF_TOKEN; from the environment when unset
	TONConfig           string    // full TON config (liteservers)
	RootContractAddress string    // ROOT_CONTRACT_ADDRESS
	Instance            int       // offsets ports and CID by 10·Instance
	WorkerCoefficient   int64     // WORKER_COEFFICIENT, 1000 = 1.0
	Persistent          string    // persistent disk image
	TONConfigBase       string    // measured TON config base
	HTTPPort            int       // base of the host stats port; guest port
	SSHPort             int       // base of the host SSH port
	VsockCID            uint32    // base guest CID
	Test                bool      // --test
	FakeTON             bool      // --fake-ton
	ImageDir            string    // the "image-dir" key (with a hyphen)
	ExternalIP          string    // fake-TON only
	ExternalWorkerPort  int       // fake-TON only; base, +10·Instance
	ExternalClientPort  int       // fake-TON only; base, +10·Instance
	BuildDir            string    // source-tree modes only
}

// ConfEnv is what the launcher's defaults depend on besides the file.
type ConfEnv struct {
	// ReleaseRoot is the unpacked release directory. When empty, defaults
	// below it (ton_config, ton_config_base, image-dir, build_dir) stay
	// empty for the caller to fill in.
	ReleaseRoot string
	// WorkDir resolves relative paths, as the launcher resolves them
	// against its working directory. When empty they stay relative.
	WorkDir string
	// Getenv supplies HF_TOKEN and BUILD_DIR defaults; nil means an empty
	// environment.
	Getenv func(string) string
}

// ConfWarning is something in worker.conf that was ignored.
type ConfWarning struct {
	Line    int    // 1-based; 0 when not tied to a line
	Key     string // the key or "[section]"
	Message string
}

func (w ConfWarning) String() string {
	if w.Line > 0 {
		return fmt.Sprintf("worker.conf line %d: %s: %s", w.Line, w.Key, w.Message)
	}
	return fmt.Sprintf("worker.conf: %s: %s", w.Key, w.Message)
}

// ConfError is an error in worker.conf tied to a key and a line.
type ConfError struct {
	Line int    // 1-based; 0 when the key is missing
	Key  string // may be empty for syntax errors
	Err  error
}

func (e *ConfError) Error() string {
	var b strings.Builder
	b.WriteString("worker.conf")
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	if e.Key != "" {
		b.WriteString(": ")
		b.WriteString(e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ConfError) Unwrap() error { return e.Err }

// confKind is how a key's value is checked and stored.
type confKind int

const (
	kindString  confKind = iota // free text (paths)
	kindRuntime                 // goes into runtime.vars: ValidateValue
	kindSecret                  // runtime.vars and secret
	kindInt
	kindPort
	kindBool
)

// confKeyKind classifies every key the launcher reads (§2.1).
func confKeyKind(key string) (confKind, bool) {
	switch key {
	case "type", "gpu", "ton_config", "persistent", "ton_config_base", "image-dir", "build_dir":
		return kindString, true
	case "owner_address", "model", "root_contract_address", "external_ip":
		return kindRuntime, true
	case "node_wallet_key", "hf_token":
		return kindSecret, true
	case "instance", "worker_coefficient", "vsock_cid":
		return kindInt, true
	case "http_port", "ssh_port", "external_worker_port", "external_client_port":
		return kindPort, true
	case "test", "fake_ton":
		return kindBool, true
	}
	return 0, false
}

// knownConfKeys lists the keys of §2.1 in the table's order.
func knownConfKeys() []string {
	return []string{
		"type", "owner_address", "model", "gpu", "node_wallet_key", "hf_token", "ton_config",
		"root_contract_address", "instance", "worker_coefficient", "persistent", "ton_config_base",
		"http_port", "ssh_port", "vsock_cid", "test", "fake_ton", "image-dir", "external_ip",
		"external_worker_port", "external_client_port", "build_dir",
	}
}

// confEntry is one key as found in the file.
type confEntry struct {
	section string
	key     string // lowercased, as configparser's optionxform does
	value   string
	line    int
	cont    bool // had continuation lines
}

// ParseConf imports a worker.conf (§2.1): the [node] section (plus
// [DEFAULT], which Python's configparser merges in), read with Python
// configparser semantics (keys case-insensitive; no inline comments; quotes
// are part of the value), every listed key checked for its type, defaults
// applied, and the result validated. Values that go into runtime.vars must
// pass ValidateValue. Unknown keys and sections are returned as warnings,
// not errors. Errors are *ConfError naming the key and line; they never
// show the node wallet key or the Hugging Face token.
func ParseConf(data []byte, env ConfEnv) (Conf, []ConfWarning, error) {
	entries, sections, err := scanConf(data)
	if err != nil {
		return Conf{}, nil, err
	}
	if err := crossCheckINI(data, entries); err != nil {
		return Conf{}, nil, err
	}
	var warnings []ConfWarning
	values := map[string]confEntry{}
	for name, line := range sections {
		if name != confSection && name != confDefaultSection {
			warnings = append(warnings, ConfWarning{Line: line, Key: "[" + name + "]",
				Message: "section ignored; the worker reads only [" + confSection + "]"})
		}
	}
	for _, e := range entries {
		if e.section != confSection && e.section != confDefaultSection {
			continue
		}
		if _, ok := confKeyKind(e.key); !ok {
			warnings = append(warnings, ConfWarning{Line: e.line, Key: e.key, Message: unknownKeyHint(e.key)})
			continue
		}
		if prev, ok := values[e.key]; ok && prev.section == confSection && e.section == confDefaultSection {
			continue // [node] overrides [DEFAULT]
		}
		values[e.key] = e
	}
	if e, ok := values["http_port"]; ok && e.value != "" && e.value != strconv.Itoa(DefaultHTTPPort) {
		warnings = append(warnings, ConfWarning{Line: e.line, Key: "http_port",
			Message: "the guest worker listens on 12000 whatever this says; keep 12000 or the stats port forward misses it"})
	}
	slices.SortStableFunc(warnings, func(a, b ConfWarning) int { return a.Line - b.Line })
	c, err := loadConf(values)
	if err != nil {
		return Conf{}, warnings, err
	}
	c.applyDefaults(env, values)
	if err := c.validate(values); err != nil {
		return Conf{}, warnings, err
	}
	return c, warnings, nil
}

func unknownKeyHint(key string) string {
	for _, k := range knownConfKeys() {
		if strings.ReplaceAll(k, "-", "_") == strings.ReplaceAll(key, "-", "_") {
			return "unknown key, ignored (the official launcher reads " + k + ")"
		}
	}
	return "unknown key, ignored"
}

// scanConf reads the file line by line with Python configparser's rules
// (Python 3, default options), recording each key's line.
func scanConf(data []byte) ([]confEntry, map[string]int, error) {
	text := strings.TrimPrefix(string(data), "\ufeff")
	var (
		entries     []confEntry
		section     string
		inSection   bool
		optIndex    = -1 // index into entries of the option being continued
		indentLevel int
		sectionLine = map[string]int{}
		keyLine     = map[[2]string]int{}
	)
	for n, raw := range strings.Split(text, "\n") {
		line := strings.TrimSuffix(raw, "\r")
		lineNo := n + 1
		value := strings.TrimSpace(line)
		if value == "" || strings.HasPrefix(value, "#") || strings.HasPrefix(value, ";") {
			continue // blank lines inside a value only matter to a continuation
		}
		indent := len(line) - len(strings.TrimLeft(line, " \t\f\v"))
		if optIndex >= 0 && indent > indentLevel {
			entries[optIndex].cont = true
			entries[optIndex].value += "\n" + value
			continue
		}
		indentLevel = indent
		if strings.HasPrefix(value, "[") {
			if end := strings.LastIndex(value, "]"); end > 1 {
				name := value[1:end]
				if first, dup := sectionLine[name]; dup {
					return nil, nil, &ConfError{Line: lineNo, Key: "[" + name + "]", Err: fmt.Errorf("section repeats line %d; merge the two", first)}
				}
				sectionLine[name] = lineNo
				section, inSection, optIndex = name, true, -1
				continue
			}
		}
		if !inSection {
			return nil, nil, &ConfError{Line: lineNo, Err: errors.New("key outside a section; put it under [node]")}
		}
		i := strings.IndexAny(value, "=:")
		if i < 0 {
			return nil, nil, &ConfError{Line: lineNo, Err: errors.New("not a section header or key = value line")}
		}
		key := strings.ToLower(strings.TrimSpace(value[:i]))
		if key == "" {
			return nil, nil, &ConfError{Line: lineNo, Err: errors.New("value without a key")}
		}
		if first, dup := keyLine[[2]string{section, key}]; dup {
			return nil, nil, &ConfError{Line: lineNo, Key: key, Err: fmt.Errorf("repeats line %d; keep one (Python's configparser refuses duplicates)", first)}
		}
		keyLine[[2]string{section, key}] = lineNo
		entries = append(entries, confEntry{section: section, key: key, value: strings.TrimSpace(value[i+1:]), line: lineNo})
		optIndex = len(entries) - 1
	}
	return entries, sectionLine, nil
}

// crossCheckINI reads the file with gopkg.in/ini.v1 configured like
// Python's configparser and requires it to agree with scanConf on every
// key of [node] and [DEFAULT]; where they differ (values ini.v1 would
// unquote, continuation lines, …) the value is not plain and is refused.
func crossCheckINI(data []byte, entries []confEntry) error {
	f, err := ini.LoadSources(ini.LoadOptions{
		InsensitiveKeys:         true,
		IgnoreInlineComment:     true,
		IgnoreContinuation:      true,
		PreserveSurroundedQuote: true,
		SkipUnrecognizableLines: true, // continuation lines: scanConf handles them
		KeyValueDelimiters:      "=:",
	}, data)
	if err != nil {
		return &ConfError{Err: fmt.Errorf("not a valid INI file: %w", err)}
	}
	for _, e := range entries {
		if e.section != confSection && e.section != confDefaultSection {
			continue
		}
		if _, known := confKeyKind(e.key); !known {
			continue
		}
		sec, err := f.GetSection(e.section)
		if err != nil {
			return &ConfError{Line: e.line, Key: e.key, Err: errors.New("section not readable; write the file as plain key = value lines")}
		}
		got := ""
		if k, err := sec.GetKey(e.key); err == nil {
			got = k.Value()
		}
		switch {
		case e.cont:
			return &ConfError{Line: e.line, Key: e.key, Err: errors.New("value continues on an indented line; write it on one line")}
		case got != e.value:
			return &ConfError{Line: e.line, Key: e.key, Err: errors.New("value is quoted or otherwise not plain; write it without quotes, backticks or a trailing backslash")}
		}
	}
	return nil
}

// loadConf converts the found keys to typed fields (no defaults yet).
func loadConf(values map[string]confEntry) (Conf, error) {
	var c Conf
	for _, key := range knownConfKeys() {
		e, ok := values[key]
		if !ok || e.value == "" {
			continue // an empty value means the default, as for a missing key
		}
		kind, _ := confKeyKind(key)
		v := e.value
		bad := func(err error) error { return &ConfError{Line: e.line, Key: key, Err: err} }
		switch kind {
		case kindRuntime, kindSecret:
			if err := ValidateValue(v); err != nil {
				var ve *ValueError
				if errors.As(err, &ve) {
					ve.Secret = kind == kindSecret
				}
				return Conf{}, bad(err)
			}
		}
		switch key {
		case "type":
			c.Type = v
		case "owner_address":
			c.OwnerAddress = v
		case "model":
			m, err := ParseModelSpec(v)
			if err != nil {
				return Conf{}, bad(err)
			}
			c.Model = m
		case "gpu":
			c.GPU = v
		case "node_wallet_key":
			c.NodeWalletKey = Secret(v)
		case "hf_token":
			c.HFToken = Secret(v)
		case "ton_config":
			c.TONConfig = v
		case "persistent":
			c.Persistent = v
		case "ton_config_base":
			c.TONConfigBase = v
		case "root_contract_address":
			c.RootContractAddress = v
		case "instance":
			n, err := parseConfInt(v, 0, 65535/instanceStride) // validate checks the resulting ports
			if err != nil {
				return Conf{}, bad(err)
			}
			c.Instance = int(n)
		case "worker_coefficient":
			n, err := parseConfInt(v, 0, MaxWorkerCoefficient-1)
			if err != nil {
				return Conf{}, bad(fmt.Errorf("%w (1000 = 1.0×; the proxy accepts 0 to %d)", err, MaxWorkerCoefficient-1))
			}
			c.WorkerCoefficient = n
		case "vsock_cid":
			n, err := parseConfInt(v, 3, 0xFFFFFFFF-1)
			if err != nil {
				return Conf{}, bad(fmt.Errorf("%w (guest CIDs start at 3)", err))
			}
			c.VsockCID = uint32(n)
		case "http_port", "ssh_port", "external_worker_port", "external_client_port":
			n, err := parseConfInt(v, 1, 65535)
			if err != nil {
				return Conf{}, bad(err)
			}
			switch key {
			case "http_port":
				c.HTTPPort = int(n)
			case "ssh_port":
				c.SSHPort = int(n)
			case "external_worker_port":
				c.ExternalWorkerPort = int(n)
			default:
				c.ExternalClientPort = int(n)
			}
		case "test", "fake_ton":
			b, err := parseConfBool(v)
			if err != nil {
				return Conf{}, bad(err)
			}
			if key == "test" {
				c.Test = b
			} else {
				c.FakeTON = b
			}
		case "image-dir":
			c.ImageDir = v
		case "external_ip":
			c.ExternalIP = v
		case "build_dir":
			c.BuildDir = v
		}
	}
	return c, nil
}

func parseConfInt(v string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range %d to %d", n, lo, hi)
	}
	return n, nil
}

// parseConfBool accepts the launcher's true/yes/1/on and their opposites,
// in any case.
func parseConfBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "1", "on":
		return true, nil
	case "false", "no", "0", "off", "":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean; write true or false", v)
}

// applyDefaults fills what the file left out with the launcher's defaults
// and resolves relative paths.
func (c *Conf) applyDefaults(env ConfEnv, values map[string]confEntry) {
	getenv := env.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	release := func(rel string) string {
		if env.ReleaseRoot == "" {
			return ""
		}
		return filepath.Join(env.ReleaseRoot, filepath.FromSlash(rel))
	}
	if c.Model.Name == "" {
		c.Model = ModelSpec{Name: DefaultModel}
	}
	if c.HFToken.IsZero() {
		c.HFToken = Secret(getenv("HF_TOKEN"))
	}
	if c.TONConfig == "" {
		c.TONConfig = release(releaseFullTONConfig)
	}
	if c.RootContractAddress == "" {
		c.RootContractAddress = DefaultRootContractAddress
	}
	if v, ok := values["worker_coefficient"]; !ok || v.value == "" {
		c.WorkerCoefficient = DefaultWorkerCoefficient
	}
	if c.Persistent == "" {
		c.Persistent = fmt.Sprintf("persistent-worker-%d.img", c.Instance)
	}
	if c.TONConfigBase == "" {
		c.TONConfigBase = release(releaseBaseTONConfig)
	}
	if c.HTTPPort == 0 {
		c.HTTPPort = DefaultHTTPPort
	}
	if c.SSHPort == 0 {
		c.SSHPort = DefaultSSHPort
	}
	if c.VsockCID == 0 {
		c.VsockCID = DefaultVsockCID
	}
	if c.ImageDir == "" {
		if c.Test {
			c.ImageDir = release(releaseImagesTest)
		} else {
			c.ImageDir = release(releaseImagesProd)
		}
	}
	if c.ExternalIP == "" {
		c.ExternalIP = DefaultExternalIP
	}
	if c.ExternalWorkerPort == 0 {
		c.ExternalWorkerPort = DefaultExternalWorkerPort
	}
	if c.ExternalClientPort == 0 {
		c.ExternalClientPort = DefaultExternalClientPort
	}
	if c.BuildDir == "" {
		if d := getenv("BUILD_DIR"); d != "" {
			c.BuildDir = d
		} else {
			c.BuildDir = release(releaseBuildDir)
		}
	}
	if env.WorkDir != "" {
		for _, p := range []*string{&c.TONConfig, &c.Persistent, &c.TONConfigBase, &c.ImageDir, &c.BuildDir} {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(env.WorkDir, *p)
			}
		}
	}
}

// gpuBDF matches a PCI address with optional domain; the function may be
// written with one or two digits (the .00 form of worker.conf.example).
var gpuBDF = regexp.MustCompile(`^([0-9A-Fa-f]{4}:)?[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]{1,2}$`)

// validate checks what the launcher (or the guest, later) would refuse.
func (c Conf) validate(values map[string]confEntry) error {
	line := func(k string) int { return values[k].line }
	if c.Type == "" {
		return &ConfError{Key: "type", Err: errors.New("missing; add type = worker under [node]")}
	}
	if c.Type != "worker" {
		return &ConfError{Line: line("type"), Key: "type", Err: fmt.Errorf("%q: Cocoon Provider runs workers only; set type = worker", c.Type)}
	}
	if c.OwnerAddress == "" {
		return &ConfError{Line: line("owner_address"), Key: "owner_address", Err: errors.New("missing; set it to the TON address that receives the earnings")}
	}
	if c.NodeWalletKey.IsZero() && !c.FakeTON {
		return &ConfError{Line: line("node_wallet_key"), Key: "node_wallet_key", Err: errors.New("missing; the guest cannot render its config without it: set 32 random bytes, base64-encoded")}
	}
	if !c.NodeWalletKey.IsZero() {
		if err := checkWalletKey(c.NodeWalletKey.Reveal()); err != nil {
			return &ConfError{Line: line("node_wallet_key"), Key: "node_wallet_key", Err: err}
		}
	}
	if c.GPU != "" && !gpuBDF.MatchString(c.GPU) {
		return &ConfError{Line: line("gpu"), Key: "gpu", Err: fmt.Errorf("%q is not a PCI address such as 0000:ab:00.0", c.GPU)}
	}
	for _, p := range []struct {
		key  string
		base int
	}{{"http_port", c.HTTPPort}, {"ssh_port", c.SSHPort}, {"external_worker_port", c.ExternalWorkerPort}, {"external_client_port", c.ExternalClientPort}} {
		if p.base+instanceStride*c.Instance > 65535 {
			return &ConfError{Line: line(p.key), Key: p.key, Err: fmt.Errorf("%d + 10·instance (%d) is above 65535; lower it or the instance", p.base, c.Instance)}
		}
	}
	if uint64(c.VsockCID)+uint64(instanceStride*c.Instance) >= 0xFFFFFFFF {
		return &ConfError{Line: line("vsock_cid"), Key: "vsock_cid", Err: fmt.Errorf("%d + 10·instance does not fit a CID", c.VsockCID)}
	}
	return nil
}

// checkWalletKey requires 32 bytes in base64 (standard or URL alphabet,
// padded or not) without showing the key.
func checkWalletKey(k string) error {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(k); err == nil {
			if len(b) == 32 {
				return nil
			}
			return fmt.Errorf("decodes to %d bytes; it must be 32 random bytes, base64-encoded (44 characters)", len(b))
		}
	}
	return errors.New("not base64; it must be 32 random bytes, base64-encoded (44 characters)")
}

// ModelSpec is the launcher's model argument <hf-name>[@<commit>[:<verity-hash>]]
// (§2.1, §2.8).
type ModelSpec struct {
	Name       string // Hugging Face repository, e.g. Qwen/Qwen3-8B
	Commit     string // optional; resolved by the model builder when empty
	VerityHash string // optional; dm-verity root hash of the model tar (64 hex)
}

// ParseModelSpec splits <name>[@<commit>[:<hash>]]. Every part must be a
// valid runtime.vars value.
func ParseModelSpec(s string) (ModelSpec, error) {
	var m ModelSpec
	rest, after, hasCommit := strings.Cut(s, "@")
	m.Name = rest
	if hasCommit {
		m.Commit, m.VerityHash, _ = strings.Cut(after, ":")
		if m.Commit == "" {
			return ModelSpec{}, fmt.Errorf("model %q: empty commit after '@'", s)
		}
	}
	if m.Name == "" {
		return ModelSpec{}, fmt.Errorf("model %q: empty name; write <hf-name>[@<commit>[:<verity-hash>]]", s)
	}
	if strings.Contains(m.Name, ":") {
		return ModelSpec{}, fmt.Errorf("model %q: ':' before '@'; write <hf-name>[@<commit>[:<verity-hash>]]", s)
	}
	for _, part := range []string{m.Name, m.Commit, m.VerityHash} {
		if err := ValidateValue(part); err != nil {
			return ModelSpec{}, fmt.Errorf("model: %w", err)
		}
	}
	if m.VerityHash != "" && !isHex(m.VerityHash, 64) {
		return ModelSpec{}, fmt.Errorf("model %q: the verity hash must be 64 hex digits", s)
	}
	return m, nil
}

// String returns the spec in the launcher's form.
func (m ModelSpec) String() string {
	s := m.Name
	if m.Commit != "" {
		s += "@" + m.Commit
		if m.VerityHash != "" {
			s += ":" + m.VerityHash
		}
	}
	return s
}

// Complete reports whether commit and verity hash are both known, i.e.
// the string is what the worker reports as its model (§2.6).
func (m ModelSpec) Complete() bool { return m.Name != "" && m.Commit != "" && m.VerityHash != "" }

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// RuntimeVars returns the variables the official launcher writes for this
// configuration (§2.4), in the table's order: MODEL_NAME (plus
// MODEL_COMMIT and MODEL_VERITY_HASH when the model spec is complete; the
// model builder supplies them otherwise), OWNER_ADDRESS,
// ROOT_CONTRACT_ADDRESS, WORKER_COEFFICIENT, HF_TOKEN and NODE_WALLET_KEY
// when known, and in fake-TON mode EXTERNAL_IP and the two external ports
// (+10·instance). The fake-TON contract codes come from the release's
// spec/fake-ton/runtime.vars; merge them with RuntimeVars.Merge.
func (c Conf) RuntimeVars() (RuntimeVars, error) {
	type kv struct{ k, v string }
	vars := []kv{{KeyModelName, c.Model.Name}}
	if c.Model.Complete() {
		vars = append(vars, kv{KeyModelCommit, c.Model.Commit}, kv{KeyModelVerityHash, c.Model.VerityHash})
	}
	vars = append(vars,
		kv{KeyOwnerAddress, c.OwnerAddress},
		kv{KeyRootContractAddress, c.RootContractAddress},
		kv{KeyWorkerCoefficient, strconv.FormatInt(c.WorkerCoefficient, 10)},
	)
	if !c.HFToken.IsZero() {
		vars = append(vars, kv{KeyHFToken, c.HFToken.Reveal()})
	}
	if !c.NodeWalletKey.IsZero() {
		vars = append(vars, kv{KeyNodeWalletKey, c.NodeWalletKey.Reveal()})
	}
	if c.FakeTON {
		off := instanceStride * c.Instance
		vars = append(vars,
			kv{KeyExternalIP, c.ExternalIP},
			kv{KeyExternalWorkerPort, strconv.Itoa(c.ExternalWorkerPort + off)},
			kv{KeyExternalClientPort, strconv.Itoa(c.ExternalClientPort + off)},
		)
	}
	var rv RuntimeVars
	for _, v := range vars {
		if err := rv.Set(v.k, v.v); err != nil {
			return RuntimeVars{}, fmt.Errorf("worker.conf to runtime.vars: %w", err)
		}
	}
	return rv, nil
}

// VMOptions is what worker.conf says about the VM, for the engine to turn
// into a VM spec. Ports and the CID already include the 10·Instance offset.
type VMOptions struct {
	Instance      int
	GPU           string // as written; empty: no GPU
	Model         ModelSpec
	Test          bool
	FakeTON       bool
	ImageDir      string
	Persistent    string
	TONConfig     string // runtime part: copied to runtime/global.config.json
	TONConfigBase string // measured: copied to global.config.json
	HostHTTPPort  int    // forwarded to GuestHTTPPort
	GuestHTTPPort int
	HostSSHPort   int // forwarded to guest port 22
	GuestCID      uint32
}

// VMOptions returns the VM-related settings of c.
func (c Conf) VMOptions() VMOptions {
	off := instanceStride * c.Instance
	return VMOptions{
		Instance:      c.Instance,
		GPU:           c.GPU,
		Model:         c.Model,
		Test:          c.Test,
		FakeTON:       c.FakeTON,
		ImageDir:      c.ImageDir,
		Persistent:    c.Persistent,
		TONConfig:     c.TONConfig,
		TONConfigBase: c.TONConfigBase,
		HostHTTPPort:  c.HTTPPort + off,
		GuestHTTPPort: c.HTTPPort,
		HostSSHPort:   c.SSHPort + off,
		GuestCID:      c.VsockCID + uint32(off),
	}
}
