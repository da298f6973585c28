//go:build !unix

package main

import "github.com/cocoon-provider/cocoon-provider/internal/hostos"

// startHeadless: worker VMs run on Linux only.
func startHeadless(string, string) (int, error) { return 0, hostos.ErrNotLinux }
