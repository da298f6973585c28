package engine

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// checkPortFree fails with a message naming the process that listens on
// addr ("127.0.0.1:12000"), when one does.
func checkPortFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err == nil {
		return l.Close()
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("cannot use port %s: %w", addr, err)
	}
	_, port, _ := net.SplitHostPort(addr)
	who := "another program"
	if pid, name, ok := tcpListener(port); ok {
		who = fmt.Sprintf("PID %d (%s)", pid, name)
	}
	return fmt.Errorf("port %s is already in use by %s: stop it, or free the port, before starting the worker", addr, who)
}

// tcpListener finds the process listening on a local TCP port through
// /proc/net/tcp{,6} and the socket inodes in /proc/*/fd. It finds only
// processes this user may inspect.
func tcpListener(port string) (pid int, name string, ok bool) {
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return 0, "", false
	}
	want := fmt.Sprintf(":%04X", p)
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// local_address is field 1, st (0A = LISTEN) field 3, inode field 9.
			if len(fields) > 9 && strings.HasSuffix(fields[1], want) && fields[3] == "0A" {
				inodes["socket:["+fields[9]+"]"] = true
			}
		}
		f.Close()
	}
	if len(inodes) == 0 {
		return 0, "", false
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		target, err := os.Readlink(fd)
		if err != nil || !inodes[target] {
			continue
		}
		dir := filepath.Dir(filepath.Dir(fd))
		pid, _ = strconv.Atoi(filepath.Base(dir))
		comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
		return pid, strings.TrimSpace(string(comm)), true
	}
	return 0, "", false
}
