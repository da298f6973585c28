package standin

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// RootFileName is where, inside the spec share, the host puts the stand-in
// root configuration: what an official worker reads from the root
// contract on chain (prices, allowed hashes, registered proxies).
const RootFileName = "runtime/standin-root.json"

// RootFile is the stand-in root configuration and the miniature payout
// rules the worker follows.
type RootFile struct {
	// Config is the root contract configuration the worker reports in
	// /jsonstats root_contract_config and accounts tokens with.
	Config worker.RootContractConfig `json:"config"`
	// ProxyAddrs are the proxies' worker ports as the worker dials them
	// (host:port; in the VM the host is 10.0.2.2).
	ProxyAddrs []string `json:"proxy_addrs"`
	// AutoPayoutTokens is the claimable token count at which the worker
	// pays out by itself (the official 2·10^8, in miniature).
	AutoPayoutTokens int64 `json:"auto_payout_tokens"`
	// AutoPayoutCheckSeconds is how often the worker checks it (official:
	// every 10–20 s).
	AutoPayoutCheckSeconds int `json:"auto_payout_check_seconds"`
}

// Validate reports what is wrong with r, if anything.
func (r RootFile) Validate() error {
	var errs []error
	if len(r.ProxyAddrs) == 0 {
		errs = append(errs, errors.New("no proxy addresses"))
	}
	if r.Config.WorkerFeePerToken < 0 || r.Config.PricePerToken < r.Config.WorkerFeePerToken {
		errs = append(errs, fmt.Errorf("fees: worker_fee_per_token %d must be 0..price_per_token %d",
			r.Config.WorkerFeePerToken, r.Config.PricePerToken))
	}
	if r.AutoPayoutTokens < 0 || r.AutoPayoutCheckSeconds < 0 {
		errs = append(errs, errors.New("negative auto-payout settings"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stand-in root configuration: %w", err)
	}
	return nil
}

// WriteRoot writes r into the spec share at specDir.
func WriteRoot(specDir string, r RootFile) error {
	if err := r.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(specDir, RootFileName)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadRoot reads the stand-in root configuration from the spec share.
func ReadRoot(specDir string) (RootFile, error) {
	path := filepath.Join(specDir, RootFileName)
	b, err := os.ReadFile(path)
	if err != nil {
		return RootFile{}, fmt.Errorf("read %s: %w; the host writes it when it starts dev mode", path, err)
	}
	var r RootFile
	if err := json.Unmarshal(b, &r); err != nil {
		return RootFile{}, fmt.Errorf("%s: %w", path, err)
	}
	return r, r.Validate()
}
