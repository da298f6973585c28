package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/diag"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

var timeType = reflect.TypeFor[time.Time]()

// filler sets every field of a value, recursively, to a distinct non-zero
// value, so a field the wire drops (or mixes up with another) shows up as
// a difference after a round trip.
type filler struct {
	t testing.TB
	n int
}

func (f *filler) fill(v reflect.Value, path string, depth int) {
	f.t.Helper()
	if depth > 20 {
		f.t.Fatalf("%s: nested too deep; the filler does not handle recursive types", path)
	}
	f.n++
	n := f.n
	if v.Type() == timeType {
		// UTC without a monotonic reading: what JSON gives back.
		v.Set(reflect.ValueOf(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(n)*time.Second + time.Duration(n)*time.Microsecond)))
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(n%100 + 1))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(uint64(n%200 + 1))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(n) + 0.5)
	case reflect.String:
		v.SetString(fmt.Sprintf("%s#%d", path, n))
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), path, depth+1)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			f.fill(s.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			f.fill(v.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := range 2 {
			k := reflect.New(v.Type().Key()).Elem()
			f.fill(k, fmt.Sprintf("%s.key%d", path, i), depth+1)
			e := reflect.New(v.Type().Elem()).Elem()
			f.fill(e, fmt.Sprintf("%s[%v]", path, k), depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				f.t.Fatalf("%s.%s (%s) is unexported: teach the filler and the wire this type", path, sf.Name, t)
			}
			f.fill(v.Field(i), path+"."+sf.Name, depth+1)
		}
	default:
		f.t.Fatalf("%s: the filler does not know %s values (%s); teach it and the wire this type", path, v.Kind(), v.Type())
	}
}

func filled[T any](t testing.TB) T {
	t.Helper()
	var v T
	(&filler{t: t}).fill(reflect.ValueOf(&v).Elem(), reflect.TypeFor[T]().Name(), 0)
	return v
}

// firstDiff names the first place where a and b differ.
func firstDiff(a, b reflect.Value, path string) string {
	if a.Type() != b.Type() {
		return path + ": types differ"
	}
	if a.Type() == timeType {
		ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
		if !reflect.DeepEqual(ta, tb) {
			return fmt.Sprintf("%s: %v (%v) != %v (%v)", path, ta, ta.Location(), tb, tb.Location())
		}
		return ""
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return fmt.Sprintf("%s: nil %v != nil %v", path, a.IsNil(), b.IsNil())
			}
			return ""
		}
		return firstDiff(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		for i := range a.NumField() {
			if !a.Type().Field(i).IsExported() {
				continue
			}
			if d := firstDiff(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice, reflect.Array:
		if a.Kind() == reflect.Slice && a.IsNil() != b.IsNil() {
			return fmt.Sprintf("%s: nil %v != nil %v", path, a.IsNil(), b.IsNil())
		}
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: length %d != %d", path, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if d := firstDiff(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		return fmt.Sprintf("%s: %v != %v", path, a.Interface(), b.Interface())
	}
	return ""
}

// roundTrip encodes in through its wire type and decodes it back.
func roundTrip[T, W any](t *testing.T, in T, toWire func(T) W, back func(W) T) T {
	t.Helper()
	b, err := json.Marshal(toWire(in))
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	var w W
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return back(w)
}

func checkSame[T any](t *testing.T, in, out T) {
	t.Helper()
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("the round trip changed the value: %s", firstDiff(reflect.ValueOf(in), reflect.ValueOf(out), reflect.TypeFor[T]().Name()))
	}
}

func TestWireStateRoundTrip(t *testing.T) {
	for name, in := range map[string]engine.State{"filled": filled[engine.State](t), "zero": {}} {
		t.Run(name, func(t *testing.T) {
			out := roundTrip(t, in, toWireState, wireState.engine)
			checkSame(t, in, out)
		})
	}
	// The fields instance.json leaves out are what the wire must add.
	st := filled[engine.State](t)
	if st.Dev.Stats == nil || st.Dev.Activity == nil || st.Dev.Load == nil || st.GPUs.NVML.CC.Devices[0].Certificates.CertChain == nil {
		t.Fatal("the filler left a field empty")
	}
}

func TestWireEventRoundTrip(t *testing.T) {
	for name, in := range map[string]engine.Event{"filled": filled[engine.Event](t), "zero": {}} {
		t.Run(name, func(t *testing.T) {
			out := roundTrip(t, in, toWireEvent, wireEvent.engine)
			checkSame(t, in, out)
		})
	}
}

func TestWireInventoryAndBucketsRoundTrip(t *testing.T) {
	st := filled[engine.State](t)
	checkSame(t, st.GPUs, roundTrip(t, st.GPUs, toWireInventory, wireInventory.engine))
	bs := filled[[]engine.EarningsBucket](t)
	checkSame(t, bs, roundTrip(t, bs, toWireBuckets, engineBuckets))
}

func TestWireLogPageAndManifestRoundTrip(t *testing.T) {
	for name, in := range map[string]engine.LogPage{"filled": filled[engine.LogPage](t), "zero": {}} {
		t.Run("page "+name, func(t *testing.T) {
			checkSame(t, in, roundTrip(t, in, toWireLogPage, wireLogPage.engine))
		})
	}
	// The manifest travels in a header, in diag.Manifest's own JSON form.
	for name, in := range map[string]diag.Manifest{"filled": filled[diag.Manifest](t), "zero": {}} {
		t.Run("manifest "+name, func(t *testing.T) {
			v, err := encodeManifest(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := decodeManifest(v)
			if err != nil {
				t.Fatal(err)
			}
			checkSame(t, in, out)
		})
	}
}

func TestWireResultsRoundTrip(t *testing.T) {
	in := []engine.TargetResult{
		{Target: engine.Target{Instance: 1, StatsAddr: "127.0.0.1:12000", Label: "dev instance 0"}, Proxy: "EQproxy", Tokens: 7, Amount: 700},
		{Target: engine.Target{Instance: 100, StatsAddr: "10.0.0.2:9000", Label: "attached"}, Proxy: "EQother",
			Err: fmt.Errorf("payout EQother: %w", worker.ErrPayoutRunning)},
		{Target: engine.Target{Instance: 101}, Err: errors.New("dial tcp: connection refused")},
	}
	out := roundTrip(t, in, toWireResults, engineResults)
	if len(out) != len(in) {
		t.Fatalf("got %d results, want %d", len(out), len(in))
	}
	for i := range in {
		a, b := in[i], out[i]
		if a.Target != b.Target || a.Proxy != b.Proxy || a.Tokens != b.Tokens || a.Amount != b.Amount {
			t.Errorf("result %d: %+v != %+v", i, b, a)
		}
		if (a.Err == nil) != (b.Err == nil) || (a.Err != nil && a.Err.Error() != b.Err.Error()) {
			t.Errorf("result %d: error %v, want %v", i, b.Err, a.Err)
		}
	}
	if !errors.Is(out[1].Err, worker.ErrPayoutRunning) {
		t.Errorf("errors.Is(%v, ErrPayoutRunning) = false", out[1].Err)
	}
	if errors.Is(out[2].Err, worker.ErrPayoutRunning) {
		t.Errorf("an error without a code matches a sentinel")
	}
}

func TestSentinelsRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range sentinels {
		if seen[s.code] {
			t.Errorf("code %q is used twice", s.code)
		}
		seen[s.code] = true
		err := toWireError(fmt.Errorf("context: %w", s.err)).err()
		if !errors.Is(err, s.err) {
			t.Errorf("%s: errors.Is after the round trip is false", s.code)
		}
		if want := "context: " + s.err.Error(); err.Error() != want {
			t.Errorf("%s: message %q, want %q", s.code, err, want)
		}
	}
	if code, _ := classify(context.Canceled); code != "canceled" {
		t.Errorf("context.Canceled is %q", code)
	}
}

func TestWireNonFiniteCounters(t *testing.T) {
	st := filled[engine.State](t)
	st.Dev.Stats.Counters.Queries = worker.AmortCounter{math.NaN(), math.Inf(1), math.Inf(-1), 0, 1e300, -2.5, 5e-324}
	out := roundTrip(t, st, toWireState, wireState.engine)
	q := out.Dev.Stats.Counters.Queries
	if !math.IsNaN(q[0]) || !math.IsInf(q[1], 1) || !math.IsInf(q[2], -1) || q[3] != 0 || q[4] != 1e300 || q[5] != -2.5 || q[6] != 5e-324 {
		t.Errorf("counters after the round trip: %v", q)
	}
	var f wireFloat
	if err := json.Unmarshal([]byte(`"bogus"`), &f); err == nil {
		t.Error("a string that is no number decoded")
	}
}
