package worker

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

const (
	testOwner = "UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m"
	testHF    = "hf_abcdefghijklmnopqrstuvwxyz012345"
)

func TestParseConfExample(t *testing.T) {
	data, err := os.ReadFile("testdata/worker.conf")
	if err != nil {
		t.Fatal(err)
	}
	c, warnings, err := ParseConf(data, ConfEnv{ReleaseRoot: "/rel", WorkDir: "/srv/cocoon"})
	if err != nil {
		t.Fatal(err)
	}
	want := Conf{
		Type:         "worker",
		OwnerAddress: testOwner,
		Model: ModelSpec{Name: "Qwen/Qwen3-8B", Commit: "b968826d9c46dd6066d109eabc6255188de91218",
			VerityHash: "7e9d33bebf5518e0dc666e5a04ffbab247ff5878f91a9a55a6e942fe245a8ee9"},
		GPU:                 "0000:ab:00.00",
		NodeWalletKey:       Secret(testWalletKey),
		HFToken:             Secret(testHF),
		TONConfig:           "/srv/cocoon/spec/mainnet-full-ton-config.json",
		RootContractAddress: "EQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU73k",
		Instance:            1,
		WorkerCoefficient:   1500,
		Persistent:          "/var/lib/cocoon/persistent-worker-1.img",
		TONConfigBase:       "/srv/cocoon/spec/mainnet-base-ton-config.json",
		HTTPPort:            12000,
		SSHPort:             12005,
		VsockCID:            6,
		ImageDir:            "/srv/cocoon/images/prod",
		ExternalIP:          DefaultExternalIP,
		ExternalWorkerPort:  DefaultExternalWorkerPort,
		ExternalClientPort:  DefaultExternalClientPort,
		BuildDir:            "/opt/cocoon/build",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Conf:\n got %+v\nwant %+v", c, want)
	}
	if len(warnings) != 1 || warnings[0].Key != "model_tar" || warnings[0].Line != 24 {
		t.Errorf("warnings = %v, want one for model_tar on line 24", warnings)
	}

	rv, err := c.RuntimeVars()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := rv.Bytes()
	wantVars := "MODEL_NAME=Qwen/Qwen3-8B\n" +
		"MODEL_COMMIT=b968826d9c46dd6066d109eabc6255188de91218\n" +
		"MODEL_VERITY_HASH=7e9d33bebf5518e0dc666e5a04ffbab247ff5878f91a9a55a6e942fe245a8ee9\n" +
		"OWNER_ADDRESS=" + testOwner + "\n" +
		"ROOT_CONTRACT_ADDRESS=EQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU73k\n" +
		"WORKER_COEFFICIENT=1500\n" +
		"HF_TOKEN=" + testHF + "\n" +
		"NODE_WALLET_KEY=" + testWalletKey + "\n"
	if string(b) != wantVars {
		t.Errorf("runtime.vars:\n%s\nwant:\n%s", b, wantVars)
	}

	vm := c.VMOptions()
	wantVM := VMOptions{Instance: 1, GPU: "0000:ab:00.00", Model: want.Model, ImageDir: "/srv/cocoon/images/prod",
		Persistent: want.Persistent, TONConfig: want.TONConfig, TONConfigBase: want.TONConfigBase,
		HostHTTPPort: 12010, GuestHTTPPort: 12000, HostSSHPort: 12015, GuestCID: 16}
	if vm != wantVM {
		t.Errorf("VMOptions:\n got %+v\nwant %+v", vm, wantVM)
	}
}

func TestParseConfDefaults(t *testing.T) {
	env := map[string]string{"HF_TOKEN": "hf_fromenv", "BUILD_DIR": "/b"}
	c, warnings, err := ParseConf([]byte("[node]\ntype=worker\nowner_address="+testOwner+"\nnode_wallet_key="+testWalletKey+"\n"),
		ConfEnv{ReleaseRoot: "/rel", Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings = %v", warnings)
	}
	want := Conf{
		Type: "worker", OwnerAddress: testOwner, Model: ModelSpec{Name: DefaultModel},
		NodeWalletKey: Secret(testWalletKey), HFToken: "hf_fromenv",
		TONConfig:           "/rel/spec/mainnet-full-ton-config.json",
		RootContractAddress: DefaultRootContractAddress, WorkerCoefficient: 1000,
		Persistent: "persistent-worker-0.img", TONConfigBase: "/rel/spec/mainnet-base-ton-config.json",
		HTTPPort: 12000, SSHPort: 12005, VsockCID: 6, ImageDir: "/rel/images/prod",
		ExternalIP: "10.0.2.2", ExternalWorkerPort: 11001, ExternalClientPort: 11002, BuildDir: "/b",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Conf:\n got %+v\nwant %+v", c, want)
	}
	// Test images without a release root: release paths stay empty.
	c, _, err = ParseConf([]byte("[node]\ntype=worker\nowner_address=x\nnode_wallet_key="+testWalletKey+"\ntest=yes\ninstance=2\n"), ConfEnv{})
	if err != nil {
		t.Fatal(err)
	}
	if c.ImageDir != "" || c.TONConfig != "" || c.Persistent != "persistent-worker-2.img" || !c.Test || c.HFToken != "" {
		t.Errorf("defaults without release: %+v", c)
	}
	c, _, _ = ParseConf([]byte("[node]\ntype=worker\nowner_address=x\nnode_wallet_key="+testWalletKey+"\ntest=on\n"), ConfEnv{ReleaseRoot: "/r"})
	if c.ImageDir != "/r/images/test" {
		t.Errorf("test image dir = %q", c.ImageDir)
	}
}

func TestParseConfFakeTON(t *testing.T) {
	conf := "[node]\ntype = worker\nowner_address = x\nfake_ton = TRUE\ninstance = 2\nexternal_ip = 192.168.1.5\n"
	c, _, err := ParseConf([]byte(conf), ConfEnv{})
	if err != nil {
		t.Fatalf("fake-TON without a wallet key: %v", err)
	}
	rv, err := c.RuntimeVars()
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{KeyExternalIP: "192.168.1.5", KeyExternalWorkerPort: "11021", KeyExternalClientPort: "11022"} {
		if got, _ := rv.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if _, ok := rv.Get(KeyNodeWalletKey); ok {
		t.Error("NODE_WALLET_KEY set without a key")
	}
	if _, ok := rv.Get(KeyModelCommit); ok {
		t.Error("MODEL_COMMIT set for an incomplete model spec")
	}
}

func TestParseConfSyntax(t *testing.T) {
	base := "[node]\ntype = worker\nowner_address = " + testOwner + "\nnode_wallet_key = " + testWalletKey + "\n"
	tests := []struct {
		name    string
		conf    string
		check   func(Conf) bool
		wantErr string
	}{
		{name: "colon delimiter", conf: base + "instance: 3\n", check: func(c Conf) bool { return c.Instance == 3 }},
		{name: "keys case-insensitive", conf: base + "INSTANCE = 3\n", check: func(c Conf) bool { return c.Instance == 3 }},
		{name: "comment lines", conf: "# top\n" + base + "  ; indented comment\n#x\ninstance=4\n", check: func(c Conf) bool { return c.Instance == 4 }},
		{name: "CRLF", conf: strings.ReplaceAll(base+"instance = 5\n", "\n", "\r\n"), check: func(c Conf) bool { return c.Instance == 5 }},
		{name: "BOM", conf: "\ufeff" + base, check: func(c Conf) bool { return c.Type == "worker" }},
		{name: "DEFAULT inherited", conf: "[DEFAULT]\ninstance = 6\n" + base, check: func(c Conf) bool { return c.Instance == 6 }},
		{name: "node overrides DEFAULT", conf: "[DEFAULT]\ninstance = 6\n" + base + "instance = 7\n", check: func(c Conf) bool { return c.Instance == 7 }},
		{name: "empty value is default", conf: base + "worker_coefficient =\nmodel =\n", check: func(c Conf) bool {
			return c.WorkerCoefficient == 1000 && c.Model.Name == DefaultModel
		}},
		{name: "bool spellings", conf: base + "test = Yes\nfake_ton = 1\n", check: func(c Conf) bool { return c.Test && c.FakeTON }},
		{name: "inline comment is part of the value", conf: base + "root_contract_address = EQabc # mine\n", wantErr: "line 5: root_contract_address: illegal character ' '"},
		{name: "quoted value alone", conf: "[node]\ntype=worker\nowner_address = \"x\"\nnode_wallet_key=" + testWalletKey + "\n", wantErr: "line 3: owner_address: illegal character '\"'"},
		{name: "backticks", conf: "[node]\ntype=worker\nowner_address = `x`\nnode_wallet_key=" + testWalletKey + "\n", wantErr: "line 3: owner_address: value is quoted"},
		{name: "continuation line", conf: base + "model = Qwen/Qwen3-8B\n  @abc\n", wantErr: "line 5: model: value continues"},
		{name: "duplicate key", conf: base + "instance = 1\ninstance = 2\n", wantErr: "line 6: instance: repeats line 5"},
		{name: "duplicate section", conf: base + "[node]\n", wantErr: "line 5: [node]: section repeats line 1"},
		{name: "key before section", conf: "type = worker\n" + base, wantErr: "line 1: key outside a section"},
		{name: "no delimiter", conf: base + "justaword\n", wantErr: "line 5: not a section header"},
		{name: "empty key", conf: base + "= x\n", wantErr: "line 5: value without a key"},
		{name: "instance not a number", conf: base + "instance = one\n", wantErr: `line 5: instance: "one" is not a whole number`},
		{name: "negative instance", conf: base + "instance = -1\n", wantErr: "line 5: instance: -1 is out of range"},
		{name: "coefficient too big", conf: base + "worker_coefficient = 1000000000\n", wantErr: "line 5: worker_coefficient: 1000000000 is out of range 0 to 999999999"},
		{name: "coefficient decimal", conf: base + "worker_coefficient = 1.5\n", wantErr: "worker_coefficient: \"1.5\" is not a whole number"},
		{name: "port zero", conf: base + "ssh_port = 0\n", wantErr: "line 5: ssh_port: 0 is out of range 1 to 65535"},
		{name: "port plus instance", conf: base + "ssh_port = 65530\ninstance = 1\n", wantErr: "line 5: ssh_port: 65530 + 10·instance (1) is above 65535"},
		{name: "cid", conf: base + "vsock_cid = 2\n", wantErr: "line 5: vsock_cid: 2 is out of range"},
		{name: "bad bool", conf: base + "test = sometimes\n", wantErr: `line 5: test: "sometimes" is not a boolean`},
		{name: "not a worker", conf: "[node]\ntype = proxy\n", wantErr: "line 2: type: \"proxy\": Cocoon Provider runs workers only"},
		{name: "no type", conf: "[node]\nowner_address = x\n", wantErr: "type: missing"},
		{name: "no node section", conf: "[proxy]\ntype = worker\n", wantErr: "type: missing"},
		{name: "no owner", conf: "[node]\ntype = worker\nnode_wallet_key = " + testWalletKey + "\n", wantErr: "owner_address: missing"},
		{name: "empty owner", conf: "[node]\ntype = worker\nowner_address =\nnode_wallet_key = " + testWalletKey + "\n", wantErr: "line 3: owner_address: missing"},
		{name: "no wallet key", conf: "[node]\ntype = worker\nowner_address = x\n", wantErr: "node_wallet_key: missing; the guest cannot render"},
		{name: "short wallet key", conf: "[node]\ntype = worker\nowner_address = x\nnode_wallet_key = AAAA\n", wantErr: "line 4: node_wallet_key: decodes to 3 bytes"},
		{name: "gpu", conf: base + "gpu = ab:00\n", wantErr: `line 5: gpu: "ab:00" is not a PCI address`},
		{name: "gpu short form", conf: base + "gpu = ab:00.0\n", check: func(c Conf) bool { return c.GPU == "ab:00.0" }},
		{name: "model with hash but bad hash", conf: base + "model = a/b@c:123\n", wantErr: "line 5: model: model \"a/b@c:123\": the verity hash must be 64 hex digits"},
		{name: "model with colon before @", conf: base + "model = a:b\n", wantErr: "line 5: model"},
		{name: "model with space", conf: base + "model = a b\n", wantErr: "line 5: model: illegal character ' '"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := ParseConf([]byte(tt.conf), ConfEnv{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				var ce *ConfError
				if !errors.As(err, &ce) {
					t.Errorf("err is %T, want *ConfError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("unexpected Conf %+v", c)
			}
		})
	}
}

func TestParseConfWarnings(t *testing.T) {
	conf := "[node]\ntype = worker\nowner_address = x\nnode_wallet_key = " + testWalletKey + "\n" +
		"image_dir = images/test\nmodel_tar = x.tar\nhttp_port = 12100\n[proxy]\nfoo = bar\n[client]\n"
	_, warnings, err := ParseConf([]byte(conf), ConfEnv{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range warnings {
		got = append(got, w.String())
	}
	want := []string{
		"worker.conf line 5: image_dir: unknown key, ignored (the official launcher reads image-dir)",
		"worker.conf line 6: model_tar: unknown key, ignored",
		"worker.conf line 7: http_port: the guest worker listens on 12000 whatever this says; keep 12000 or the stats port forward misses it",
		"worker.conf line 8: [proxy]: section ignored; the worker reads only [node]",
		"worker.conf line 10: [client]: section ignored; the worker reads only [node]",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseConfSecretsStayHidden(t *testing.T) {
	// Bad characters in secrets: the error names key and line but not the
	// character or any part of the value.
	for _, tt := range []struct{ key, value string }{
		{"node_wallet_key", "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQ q83vEjRWeJA"},
		{"hf_token", "hf_hidden\"value"},
		{"node_wallet_key", "aGlkZGVuaGlkZGVu"},
	} {
		conf := "[node]\ntype = worker\nowner_address = x\n" + tt.key + " = " + tt.value + "\n"
		_, _, err := ParseConf([]byte(conf), ConfEnv{})
		if err == nil {
			t.Fatalf("%s = %q accepted", tt.key, tt.value)
		}
		msg := err.Error()
		if !strings.Contains(msg, "line 4: "+tt.key) {
			t.Errorf("error %q does not name line 4 and %s", msg, tt.key)
		}
		for _, part := range []string{tt.value[:6], `'"'`, "' '", "hidden"} {
			if strings.Contains(msg, part) {
				t.Errorf("error %q shows %q", msg, part)
			}
		}
	}
	c, _, err := ParseConf([]byte("[node]\ntype=worker\nowner_address=x\nnode_wallet_key="+testWalletKey+"\nhf_token="+testHF+"\n"), ConfEnv{})
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x"} {
		out := fmt.Sprintf(verb, c)
		if strings.Contains(out, testWalletKey[:10]) || strings.Contains(out, testHF[3:]) {
			t.Errorf("Sprintf(%s, conf) shows a secret: %s", verb, out)
		}
	}
}

func TestParseModelSpec(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	tests := []struct {
		in      string
		want    ModelSpec
		wantErr bool
	}{
		{in: "Qwen/Qwen3-0.6B", want: ModelSpec{Name: "Qwen/Qwen3-0.6B"}},
		{in: "Qwen/Qwen3-8B@abc", want: ModelSpec{Name: "Qwen/Qwen3-8B", Commit: "abc"}},
		{in: "Qwen/Qwen3-8B@abc:" + hash, want: ModelSpec{Name: "Qwen/Qwen3-8B", Commit: "abc", VerityHash: hash}},
		{in: "", wantErr: true},
		{in: "@abc", wantErr: true},
		{in: "a@", wantErr: true},
		{in: "a@b:xyz", wantErr: true},
		{in: "a b", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseModelSpec(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseModelSpec(%q) = %+v, %v", tt.in, got, err)
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
	if !(ModelSpec{"a", "b", hash}).Complete() || (ModelSpec{Name: "a", Commit: "b"}).Complete() {
		t.Error("Complete wrong")
	}
}
