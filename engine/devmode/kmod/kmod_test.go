package kmod

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode/kmod/kmodtest"
)

func fakeModule(t *testing.T, entries ...string) []byte {
	t.Helper()
	return kmodtest.WithModinfo(entries...)
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		entries []string
		want    Info
	}{
		{"depends and name", "kernel/net/9p/9pnet_virtio.ko",
			[]string{"license=GPL", "depends=virtio,9pnet,virtio_ring", "retpoline=Y", "name=9pnet_virtio", "vermagic=6.1.0-56-amd64 SMP"},
			Info{Name: "9pnet_virtio", Depends: []string{"virtio", "9pnet", "virtio_ring"}}},
		{"no dependencies", "virtio_ring.ko", []string{"depends=", "name=virtio_ring"},
			Info{Name: "virtio_ring"}},
		{"name from file, dashes normalised", "drivers/foo-bar.ko", []string{"depends=a-b, c"},
			Info{Name: "foo_bar", Depends: []string{"a_b", "c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBytes(fakeModule(t, tt.entries...), tt.file)
			if err != nil {
				t.Fatalf("ParseBytes: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseNotAModule(t *testing.T) {
	if _, err := ParseBytes([]byte("not an elf"), "x.ko"); err == nil {
		t.Error("garbage parsed as a module")
	}
	// An ELF file without .modinfo: rename the section.
	ko := fakeModule(t, "depends=")
	ko = bytes.Replace(ko, []byte(".modinfo"), []byte(".notinfo"), 1)
	if _, err := ParseBytes(ko, "x.ko"); !errors.Is(err, ErrNoModinfo) {
		t.Errorf("err = %v, want ErrNoModinfo", err)
	}
}

var debian61 = Graph(kmodtest.Debian61())

func checkOrder(t *testing.T, g Graph, order []string) {
	t.Helper()
	pos := map[string]int{}
	for i, m := range order {
		if _, dup := pos[m]; dup {
			t.Fatalf("%s appears twice in %v", m, order)
		}
		pos[m] = i
	}
	for _, m := range order {
		for _, d := range g[m] {
			if pos[d] > pos[m] {
				t.Errorf("%s (at %d) loads before its dependency %s (at %d)", m, pos[m], d, pos[d])
			}
		}
	}
}

func TestOrder(t *testing.T) {
	order, err := Order(debian61, []string{"virtio_console", "virtio-pci", "virtio_net"})
	if err != nil {
		t.Fatal(err)
	}
	if len(order) != len(debian61) {
		t.Fatalf("order has %d modules, want %d: %v", len(order), len(debian61), order)
	}
	checkOrder(t, debian61, order)
	// Priority: virtio_console and its dependencies come first.
	if want := []string{"virtio_ring", "virtio", "virtio_console"}; !reflect.DeepEqual(order[:3], want) {
		t.Errorf("order starts %v, want %v", order[:3], want)
	}
	again, _ := Order(debian61, []string{"virtio_console", "virtio-pci", "virtio_net"})
	if !reflect.DeepEqual(order, again) {
		t.Error("Order is not deterministic")
	}
}

func TestClosure(t *testing.T) {
	got, err := Closure(debian61, []string{"9p", "9pnet_virtio"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"9pnet", "netfs", "fscache", "9p", "virtio_ring", "virtio", "9pnet_virtio"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Closure = %v, want %v", got, want)
	}
}

func TestOrderErrors(t *testing.T) {
	var missing *MissingError
	_, err := Order(Graph{"a": {"b"}, "b": {"c"}}, nil)
	if !errors.As(err, &missing) || missing.Missing != "c" || missing.Module != "b" {
		t.Errorf("missing dependency: err = %v", err)
	}
	if _, err := Closure(Graph{}, []string{"virtio_net"}); !errors.As(err, &missing) || missing.Missing != "virtio_net" {
		t.Errorf("missing root: err = %v", err)
	}
	_, err = Order(Graph{"a": {"b"}, "b": {"a"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: err = %v", err)
	}
}
