package model

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestReliabilityBadModels fetches many damaged, mislabelled or
// disallowed models into a Store that holds a good one, and checks every
// one is refused, nothing of it is stored, and the model already there is
// unchanged.
func TestReliabilityBadModels(t *testing.T) {
	srv := newFileServer(t)
	prev := makeModel(t, "org/previous", 40, 7)
	good := makeModel(t, "Qwen/Qwen3-0.6B", 200, 4)
	free := int64(1 << 40)
	st := newTestStore(t, func(o *Options) {
		o.FreeSpace = func(string) (int64, error) { return free, nil }
	})
	pm, err := st.Fetch(context.Background(), prev.spec, Source{URL: srv.put("/prev.tar", prev.tar)}, allowOf(prev.spec), nil)
	if err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		list, err := st.List()
		if err != nil {
			return err.Error()
		}
		s := fmt.Sprint(len(list))
		for _, m := range list {
			for _, f := range []string{m.TarPath(), m.VerityPath(), filepath.Join(m.Dir, recordFile)} {
				b, err := os.ReadFile(f)
				s += fmt.Sprintf("|%s %x %v", f, b, err)
			}
		}
		return s
	}
	before := snapshot()
	cases := badModels(t, good)
	if len(cases) < 25 {
		t.Fatalf("only %d variants", len(cases))
	}
	tried, refused, kept, acceptedBad := 0, 0, 0, 0
	for i, bc := range cases {
		tried++
		free = 1 << 40
		if bc.free > 0 {
			free = bc.free
		}
		src := bc.src
		src.URL = srv.URL + "/none"
		if bc.tar != nil {
			src.URL = srv.put("/bad/"+strconv.Itoa(i)+".tar", bc.tar)
		}
		if bc.verity != nil {
			src.VerityURL = srv.put("/bad/"+strconv.Itoa(i)+".verity", bc.verity)
		}
		m, err := st.Fetch(context.Background(), bc.spec, src, bc.allow, nil)
		if err != nil {
			refused++
		} else {
			acceptedBad++
			t.Errorf("%s: accepted as %s", bc.name, m.Spec)
			_ = st.Remove(m.Name + "@" + m.Commit)
		}
		if snapshot() == before {
			kept++
		} else {
			t.Errorf("%s: the stored models changed", bc.name)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(st.Dir(), downloadsDir)); len(ents) != 0 {
		t.Errorf("downloads of refused models left: %d", len(ents))
	}
	if err := st.Verify(context.Background(), prev.spec, nil); err != nil || pm.Spec != prev.spec.String() {
		t.Errorf("previous model: %v", err)
	}
	t.Logf("RELIABILITY bad-models: tried %d; refused %d; previous model kept %d; accepted-bad %d", tried, refused, kept, acceptedBad)
}
