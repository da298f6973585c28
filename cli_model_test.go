package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/model"
)

func TestModelCommands(t *testing.T) {
	tarBytes := bytes.Repeat([]byte("model weights "), 4096*3/14+1)[:4096*3]
	f, err := os.Create(filepath.Join(t.TempDir(), "v"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := model.BuildVerity(bytes.NewReader(tarBytes), int64(len(tarBytes)), f, model.BuildModelVerity())
	_ = f.Close()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "m.tar", time.Unix(0, 0), bytes.NewReader(tarBytes))
	}))
	defer srv.Close()
	spec := "org/tiny@" + strings.Repeat("ab", 20) + ":" + hex.EncodeToString(root[:])
	sp, _ := model.Parse(spec)
	dd := t.TempDir()
	run := func(args ...string) (string, string, error) {
		var out, errb bytes.Buffer
		err := cmdModel(context.Background(), append(args, "--data-dir", dd), &out, &errb)
		return out.String(), errb.String(), err
	}
	// Not allowed: refused before downloading.
	if _, _, err := run("fetch", spec, "--url", srv.URL+"/t.tar", "--allow", strings.Repeat("00", 32)); !errors.Is(err, model.ErrNotAllowed) {
		t.Fatalf("not allowed: %v", err)
	}
	if _, _, err := run("fetch", spec, "--url", srv.URL+"/t.tar"); err == nil || !strings.Contains(err.Error(), "--allow") {
		t.Fatalf("no allow-list: %v", err)
	}
	out, _, err := run("fetch", spec, "--url", srv.URL+"/t.tar", "--allow", sp.Hash().String())
	if err != nil || !strings.Contains(out, "stored in") {
		t.Fatalf("fetch: %q %v", out, err)
	}
	out, _, err = run("list", "--json")
	var list []model.Model
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].Spec != spec || !list[0].AllowChecked {
		t.Fatalf("list: %q %v", out, err)
	}
	out, _, err = run("check", spec, "--allow", sp.Hash().String())
	if err != nil || !strings.Contains(out, "Allow-list: allowed") || !strings.Contains(out, "they match") || !strings.Contains(out, sp.Hash().String()) {
		t.Fatalf("check: %q %v", out, err)
	}
	if _, _, err := run("check", strings.ToUpper(spec)); !errors.Is(err, model.ErrSpec) {
		t.Fatalf("check upper: %v", err)
	}
	if out, _, err = run("remove", "org/tiny@"+strings.Repeat("ab", 20)); err != nil || !strings.Contains(out, "removed") {
		t.Fatalf("remove: %q %v", out, err)
	}
	if out, _, err = run("list"); err != nil || !strings.Contains(out, "No models") {
		t.Fatalf("list after remove: %q %v", out, err)
	}
	if _, _, err := run("bogus"); err == nil {
		t.Fatal("bogus subcommand accepted")
	}
}
