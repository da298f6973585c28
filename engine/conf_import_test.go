package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

func TestImportWorkerConf(t *testing.T) {
	data, err := os.ReadFile("worker/testdata/worker.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := New(Options{Root: t.TempDir(), DataDir: dir, NVML: noNVML()})
	defer s.Close()
	ctx := context.Background()
	res, err := s.ImportWorkerConf(ctx, data, worker.ConfEnv{ReleaseRoot: "/opt/cocoon/release"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.SecretsNotImported, []string{"node_wallet_key", "hf_token"}) {
		t.Errorf("secrets not imported = %v", res.SecretsNotImported)
	}
	if len(res.Warnings) == 0 {
		t.Error("the unknown model_tar key gave no warning")
	}
	conf, ok, err := s.ImportedWorkerConf(ctx)
	if err != nil || !ok {
		t.Fatalf("read back: %v %v", ok, err)
	}
	if conf.OwnerAddress != "UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m" || conf.Instance != 1 || conf.WorkerCoefficient != 1500 ||
		conf.Model.Name != "Qwen/Qwen3-8B" || !conf.NodeWalletKey.IsZero() {
		t.Errorf("stored conf = %+v", conf)
	}
	// The secrets must not be anywhere in the data directory.
	for _, secret := range []string{"q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=", "hf_abcdefghijklmnopqrstuvwxyz012345"} {
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds a secret from worker.conf", p)
			}
			return nil
		})
	}
}

func TestImportWorkerConfRejectsIllegalValue(t *testing.T) {
	s := New(Options{Root: t.TempDir(), DataDir: t.TempDir(), NVML: noNVML()})
	defer s.Close()
	_, err := s.ImportWorkerConf(context.Background(), []byte("[node]\ntype = worker\nowner_address = bad address!\n"), worker.ConfEnv{})
	if err == nil {
		t.Fatal("an owner address with a space and '!' was accepted")
	}
	if _, ok, _ := s.ImportedWorkerConf(context.Background()); ok {
		t.Error("a failed import stored settings")
	}
}
