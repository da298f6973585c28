package main

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

const testKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // bytes 00..1f

func TestParseRuntimeVars(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{name: "launcher output", in: "MODEL_NAME=Qwen/Qwen3-8B\nOWNER_ADDRESS=UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m\nWORKER_COEFFICIENT=1000\nNODE_WALLET_KEY=" + testKey + "\n",
			want: map[string]string{"MODEL_NAME": "Qwen/Qwen3-8B", "WORKER_COEFFICIENT": "1000", "NODE_WALLET_KEY": testKey}},
		{name: "comments and blank lines", in: "# generated\n\n  \nA=1\n#B=2\n", want: map[string]string{"A": "1"}},
		{name: "all allowed value characters", in: "K=Az09_-.:/=@+", want: map[string]string{"K": "Az09_-.:/=@+"}},
		{name: "empty value", in: "K=", want: map[string]string{"K": ""}},
		{name: "last value wins", in: "K=1\nK=2", want: map[string]string{"K": "2"}},
		{name: "no variables", in: "# nothing\n\n", wantErr: "sets no variable"},
		{name: "no equals sign", in: "A=1\nNODE_WALLET_KEY abc", wantErr: "line 2 has no '='"},
		{name: "key with a space", in: "NODE_WALLET_KEY " + testKey, wantErr: "line 1: the key must be"},
		{name: "bad key", in: "MY-KEY=1", wantErr: "line 1: the key must be"},
		{name: "space in value", in: "A=1\nHF_TOKEN=hf abc", wantErr: "line 2: the value of HF_TOKEN has the character space"},
		{name: "quoted value", in: `A="x"`, wantErr: `character '"'`},
		{name: "CRLF", in: "A=1\r\n", wantErr: "carriage return"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := parseRuntimeVars([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.want {
				if got, ok := v.Get(k); !ok || got != want {
					t.Errorf("%s = %q (set %v), want %q", k, got, ok, want)
				}
			}
		})
	}
}

func TestRuntimeVarsErrorsHideValues(t *testing.T) {
	secretish := "hf_secret+value with space"
	_, err := parseRuntimeVars([]byte("HF_TOKEN=" + secretish))
	if err == nil || strings.Contains(err.Error(), "hf_secret") {
		t.Errorf("error %v leaks the value", err)
	}
}

func validVars(t *testing.T, extra string) runtimeVars {
	t.Helper()
	v, err := parseRuntimeVars([]byte("MODEL_NAME=Qwen/Qwen3-0.6B\nOWNER_ADDRESS=UQowner\nROOT_CONTRACT_ADDRESS=EQroot\nWORKER_COEFFICIENT=1500\nNODE_WALLET_KEY=" + testKey + "\n" + extra))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestConfigFromVars(t *testing.T) {
	c, err := configFromVars(validVars(t, "MODEL_COMMIT=abc\nMODEL_VERITY_HASH=def\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Coefficient != 1500 || c.OwnerAddress != "UQowner" || c.RootContractAddress != "EQroot" {
		t.Errorf("config = %+v", c)
	}
	if got := c.ModelSpec(); got != "Qwen/Qwen3-0.6B@abc:def" {
		t.Errorf("ModelSpec = %q", got)
	}
	key, _ := base64.StdEncoding.DecodeString(testKey)
	if string(c.WalletKey.Bytes()) != string(key) {
		t.Error("wallet key not decoded")
	}
	// The key never prints, whatever the verb.
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%x", c.WalletKey), fmt.Sprintf("%s", c.WalletKey)} {
		if strings.Contains(out, "0001020304") || strings.Contains(out, testKey) || strings.Contains(out, "[0 1 2 3") {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if got := describeVars(validVars(t, "HF_TOKEN=hf_x\n")); strings.Contains(got, testKey) || strings.Contains(got, "hf_x") || !strings.Contains(got, "NODE_WALLET_KEY=[redacted]") {
		t.Errorf("describeVars = %q", got)
	}
}

func TestConfigFromVarsErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"OWNER_ADDRESS=x", "lacks MODEL_NAME, ROOT_CONTRACT_ADDRESS, WORKER_COEFFICIENT, NODE_WALLET_KEY"},
		{"MODEL_NAME=m\nOWNER_ADDRESS=o\nROOT_CONTRACT_ADDRESS=r\nWORKER_COEFFICIENT=1.5\nNODE_WALLET_KEY=" + testKey, "WORKER_COEFFICIENT \"1.5\" is not an integer"},
		{"MODEL_NAME=m\nOWNER_ADDRESS=o\nROOT_CONTRACT_ADDRESS=r\nWORKER_COEFFICIENT=1000\nNODE_WALLET_KEY=c2hvcnQ=", "NODE_WALLET_KEY is not 32 bytes"},
	}
	for _, tt := range tests {
		v, err := parseRuntimeVars([]byte(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		_, err = configFromVars(v)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.in, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "c2hvcnQ") {
			t.Errorf("error leaks the key: %v", err)
		}
	}
}
