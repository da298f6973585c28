package main

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// secret holds key material. It prints, logs and marshals as "[redacted]"
// so it cannot leak through a format verb or a log attribute.
type secret struct{ b []byte }

func newSecret(b []byte) secret { return secret{b: append([]byte(nil), b...)} }

// Bytes returns a copy of the key for the code that signs with it.
func (s secret) Bytes() []byte { return append([]byte(nil), s.b...) }

func (secret) String() string               { return "[redacted]" }
func (secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }
func (secret) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte("[redacted]")) }

// secretKeys are runtime.vars keys whose values are never shown.
var secretKeys = map[string]bool{"NODE_WALLET_KEY": true, "HF_TOKEN": true, "APP_KEY": true}

// workerConfig is what the stand-in worker takes from runtime.vars, the
// fields the official worker-config.json template fills from it (§2.6).
type workerConfig struct {
	ModelName           string
	ModelCommit         string
	ModelVerityHash     string
	OwnerAddress        string
	RootContractAddress string
	Coefficient         int32
	WalletKey           secret
}

// requiredVars must be in runtime.vars; the official renderer fails the same
// way when a template variable is unknown.
var requiredVars = []string{"MODEL_NAME", "OWNER_ADDRESS", "ROOT_CONTRACT_ADDRESS", "WORKER_COEFFICIENT", "NODE_WALLET_KEY"}

// configFromVars checks and converts runtime.vars into a workerConfig.
func configFromVars(v runtimeVars) (workerConfig, error) {
	var missing []string
	for _, k := range requiredVars {
		if _, ok := v.Get(k); !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return workerConfig{}, fmt.Errorf("runtime.vars lacks %s; the host writes them from worker.conf (model, owner_address, root_contract_address, worker_coefficient, node_wallet_key)", strings.Join(missing, ", "))
	}
	get := func(k string) string { s, _ := v.Get(k); return s }
	c := workerConfig{
		ModelName:           get("MODEL_NAME"),
		ModelCommit:         get("MODEL_COMMIT"),
		ModelVerityHash:     get("MODEL_VERITY_HASH"),
		OwnerAddress:        get("OWNER_ADDRESS"),
		RootContractAddress: get("ROOT_CONTRACT_ADDRESS"),
	}
	k, err := strconv.ParseInt(get("WORKER_COEFFICIENT"), 10, 32)
	if err != nil {
		return workerConfig{}, fmt.Errorf("runtime.vars: WORKER_COEFFICIENT %q is not an integer (1000 means 1.0x)", get("WORKER_COEFFICIENT"))
	}
	c.Coefficient = int32(k)
	key, err := base64.StdEncoding.DecodeString(get("NODE_WALLET_KEY"))
	if err != nil || len(key) != 32 {
		return workerConfig{}, fmt.Errorf("runtime.vars: NODE_WALLET_KEY is not 32 bytes in standard base64; generate one with `head -c 32 /dev/urandom | base64`")
	}
	c.WalletKey = newSecret(key)
	clear(key)
	return c, nil
}

// ModelSpec is the full model string the official template builds:
// $MODEL_NAME@$MODEL_COMMIT:$MODEL_VERITY_HASH, shortened when the host did
// not build a model (the stand-in serves none).
func (c workerConfig) ModelSpec() string {
	s := c.ModelName
	if c.ModelCommit != "" {
		s += "@" + c.ModelCommit
		if c.ModelVerityHash != "" {
			s += ":" + c.ModelVerityHash
		}
	}
	return s
}

// describeVars lists the keys found for the log, masking secret values and
// leaving all other values out too: the log needs only what is present.
func describeVars(v runtimeVars) string {
	keys := v.Keys()
	for i, k := range keys {
		if secretKeys[k] {
			keys[i] = k + "=[redacted]"
		}
	}
	return strings.Join(keys, " ")
}
