package kmod

import (
	"fmt"
	"sort"
	"strings"
)

// Graph maps a module name to the names of the modules it depends on.
type Graph map[string][]string

// GraphOf builds a Graph from parsed modules.
func GraphOf(infos []Info) Graph {
	g := make(Graph, len(infos))
	for _, in := range infos {
		g[in.Name] = in.Depends
	}
	return g
}

// MissingError says a module needs another one that is not available.
type MissingError struct {
	Module  string // the module that cannot be loaded
	Missing string // the dependency that is not in the graph
	Chain   []string
}

func (e *MissingError) Error() string {
	if e.Module == "" {
		return fmt.Sprintf("kernel module %s is not available; add it to the image", e.Missing)
	}
	return fmt.Sprintf("kernel module %s needs %s, which is not available (via %s); add it to the image",
		e.Module, e.Missing, strings.Join(e.Chain, " → "))
}

// Order returns every module of g in a load order: each module after all of
// its dependencies. Modules reachable from first come first, in the order
// first lists them (so a caller can ask for, say, the console driver before
// anything else); the rest follow in name order. A dependency missing from
// g gives a *MissingError; a dependency cycle gives an error naming it.
func Order(g Graph, first []string) ([]string, error) {
	rest := make([]string, 0, len(g))
	for name := range g {
		rest = append(rest, name)
	}
	sort.Strings(rest)
	return walk(g, append(append([]string(nil), first...), rest...))
}

// Closure returns the modules roots need, roots included, in load order.
// Unlike Order it leaves out modules no root needs.
func Closure(g Graph, roots []string) ([]string, error) {
	return walk(g, roots)
}

func walk(g Graph, roots []string) ([]string, error) {
	const (
		unseen = iota
		visiting
		done
	)
	state := make(map[string]int, len(g))
	var order []string
	var stack []string
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("kernel modules depend on each other in a cycle: %s → %s", strings.Join(stack, " → "), name)
		}
		deps, ok := g[name]
		if !ok {
			e := &MissingError{Missing: name}
			if len(stack) > 0 {
				e.Module = stack[len(stack)-1]
				e.Chain = append([]string(nil), stack...)
			}
			return e
		}
		state[name] = visiting
		stack = append(stack, name)
		for _, d := range deps {
			if err := visit(d); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
		order = append(order, name)
		return nil
	}
	for _, r := range roots {
		if err := visit(Normalize(r)); err != nil {
			return nil, err
		}
	}
	return order, nil
}
