package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// SettingWorkerConf is the settings key holding an imported worker.conf
// (without its secrets).
const SettingWorkerConf = "worker.conf"

// ImportResult says what a worker.conf import kept.
type ImportResult struct {
	// Conf is what was stored; its secrets are cleared.
	Conf     worker.Conf
	Warnings []worker.ConfWarning
	// SecretsNotImported names secret keys the file had (node_wallet_key,
	// hf_token). They are not stored: secrets live only in the encrypted
	// keystore, which the wallet part of the app manages.
	SecretsNotImported []string
}

// ImportWorkerConf reads an official worker.conf and stores its settings,
// so users of the official tooling switch without retyping. Unknown keys
// are reported as warnings; bad values fail with the key and line.
func (s *Service) ImportWorkerConf(ctx context.Context, data []byte, env worker.ConfEnv) (ImportResult, error) {
	conf, warnings, err := worker.ParseConf(data, env)
	if err != nil {
		return ImportResult{}, err
	}
	res := ImportResult{Warnings: warnings}
	if !conf.NodeWalletKey.IsZero() {
		res.SecretsNotImported = append(res.SecretsNotImported, "node_wallet_key")
	}
	if !conf.HFToken.IsZero() {
		res.SecretsNotImported = append(res.SecretsNotImported, "hf_token")
	}
	conf.NodeWalletKey, conf.HFToken = "", ""
	res.Conf = conf
	raw, err := json.Marshal(conf)
	if err != nil {
		return ImportResult{}, err
	}
	st, done, err := s.useStore(ctx)
	if err != nil {
		return ImportResult{}, err
	}
	defer done()
	if err := st.SetSetting(ctx, SettingWorkerConf, string(raw)); err != nil {
		return ImportResult{}, fmt.Errorf("save imported settings: %w", err)
	}
	s.recordEventTo(st, "settings.import", "imported worker.conf", map[string]any{"warnings": len(warnings), "secrets_not_imported": res.SecretsNotImported})
	return res, nil
}

// ImportedWorkerConf returns the stored worker.conf settings, if any.
func (s *Service) ImportedWorkerConf(ctx context.Context) (worker.Conf, bool, error) {
	st, done, err := s.useStore(ctx)
	if err != nil {
		return worker.Conf{}, false, err
	}
	defer done()
	raw, ok, err := st.Setting(ctx, SettingWorkerConf)
	if err != nil || !ok {
		return worker.Conf{}, false, err
	}
	var conf worker.Conf
	if err := json.Unmarshal([]byte(raw), &conf); err != nil {
		return worker.Conf{}, false, fmt.Errorf("stored %s setting is unreadable: %w; import worker.conf again", SettingWorkerConf, err)
	}
	return conf, true, nil
}

// useStore returns the open store while Run runs, else opens it for one use.
func (s *Service) useStore(ctx context.Context) (*store.Store, func(), error) {
	s.mu.Lock()
	st := s.store
	s.mu.Unlock()
	if st != nil {
		return st, func() {}, nil
	}
	if s.opts.DataDir == "" {
		return nil, nil, errors.New("no data directory configured")
	}
	st, err := store.Open(ctx, filepath.Join(s.opts.DataDir, store.DefaultFileName))
	if err != nil {
		return nil, nil, err
	}
	return st, func() { st.Close() }, nil
}
