package remote

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/engine"
)

// FuzzWireDecode feeds arbitrary JSON to the event stream's decoders. A
// document that decodes must convert to the engine's types without a
// panic, and what the server would send for the result must be stable:
// encode → decode → encode prints the same bytes.
func FuzzWireDecode(f *testing.F) {
	for _, v := range []any{
		toWireEvent(filled[engine.Event](f)), toWireEvent(engine.Event{}),
		toWireState(filled[engine.State](f)), toWireState(engine.State{}),
	} {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"kind":"instance","state":{"dev":{"stats":{"Counters":{"Queries":["nan","inf","-inf",1e308,-0,0,5]}}}}}`))
	f.Add([]byte(`{"state":{"report_same":true,"attached":[{},{"load":{}}],"earnings":{"today":{"x":-1}}}}`))
	f.Add([]byte(`{"kind":"alert","alert":{},"state":{"gpus":{"nvml":{"cc":{"devices":[{"report":{"nonce":[1,2]}}]}}}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ws wireState
		if json.Unmarshal(data, &ws) == nil {
			checkStable(t, "state", toWireState(ws.engine()), func(w wireState) any { return toWireState(w.engine()) })
		}
		var we wireEvent
		if json.Unmarshal(data, &we) == nil {
			checkStable(t, "event", toWireEvent(we.engine()), func(w wireEvent) any { return toWireEvent(w.engine()) })
		}
	})
}

// checkStable encodes w, decodes it, converts it back through the engine
// type, and checks that the second encoding equals the first.
func checkStable[W any](t *testing.T, what string, w W, again func(W) any) {
	t.Helper()
	b1, err := json.Marshal(w)
	if err != nil {
		t.Fatalf("%s: encoding a decoded value failed: %v", what, err)
	}
	var w2 W
	if err := json.Unmarshal(b1, &w2); err != nil {
		t.Fatalf("%s: decoding our own encoding failed: %v\n%s", what, err, b1)
	}
	b2, err := json.Marshal(again(w2))
	if err != nil {
		t.Fatalf("%s: second encoding failed: %v", what, err)
	}
	if !bytes.Equal(b1, b2) {
		t.Fatalf("%s: not stable through encode/decode:\n%s\n%s", what, b1, b2)
	}
}
