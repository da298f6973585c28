package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// rtnl is a minimal rtnetlink client: just enough to bring links up, add an
// IPv4 address and a default route, so the agent needs no ip(8).
type rtnl struct {
	fd  int
	seq uint32
}

func openRTNL() (*rtnl, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("bind rtnetlink socket: %w", err)
	}
	return &rtnl{fd: fd}, nil
}

func (r *rtnl) Close() error { return unix.Close(r.fd) }

// nlMessage frames body as one netlink request.
func nlMessage(typ, flags uint16, seq uint32, body []byte) []byte {
	b := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	binary.NativeEndian.PutUint32(b[0:4], uint32(unix.SizeofNlMsghdr+len(body)))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	binary.NativeEndian.PutUint16(b[6:8], flags)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	return append(b, body...)
}

// rtAttr is one route attribute, padded to 4 bytes.
func rtAttr(typ uint16, data []byte) []byte {
	n := unix.SizeofRtAttr + len(data)
	b := make([]byte, (n+3)&^3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(n))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	copy(b[4:], data)
	return b
}

// linkUpBody is an ifinfomsg setting IFF_UP on index.
func linkUpBody(index int) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:8], uint32(index))
	binary.NativeEndian.PutUint32(b[8:12], unix.IFF_UP)
	binary.NativeEndian.PutUint32(b[12:16], unix.IFF_UP)
	return b
}

// addrBody is an ifaddrmsg adding the IPv4 prefix p to index.
func addrBody(index int, p netip.Prefix) []byte {
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0] = unix.AF_INET
	b[1] = byte(p.Bits())
	b[3] = unix.RT_SCOPE_UNIVERSE
	binary.NativeEndian.PutUint32(b[4:8], uint32(index))
	a := p.Addr().As4()
	b = append(b, rtAttr(unix.IFA_LOCAL, a[:])...)
	return append(b, rtAttr(unix.IFA_ADDRESS, a[:])...)
}

// defaultRouteBody is an rtmsg adding 0.0.0.0/0 via gw on index.
func defaultRouteBody(index int, gw netip.Addr) []byte {
	b := make([]byte, unix.SizeofRtMsg)
	b[0] = unix.AF_INET
	b[4] = unix.RT_TABLE_MAIN
	b[5] = unix.RTPROT_BOOT
	b[6] = unix.RT_SCOPE_UNIVERSE
	b[7] = unix.RTN_UNICAST
	g := gw.As4()
	b = append(b, rtAttr(unix.RTA_GATEWAY, g[:])...)
	var oif [4]byte
	binary.NativeEndian.PutUint32(oif[:], uint32(index))
	return append(b, rtAttr(unix.RTA_OIF, oif[:])...)
}

// do sends one request and waits for its acknowledgement.
func (r *rtnl) do(typ, flags uint16, body []byte) error {
	r.seq++
	msg := nlMessage(typ, flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK, r.seq, body)
	if err := unix.Sendto(r.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(r.fd, buf, 0)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Seq != r.seq || m.Header.Type != unix.NLMSG_ERROR {
				continue
			}
			if len(m.Data) < 4 {
				return errors.New("short netlink error message")
			}
			if code := int32(binary.NativeEndian.Uint32(m.Data[:4])); code != 0 {
				return unix.Errno(-code)
			}
			return nil
		}
	}
}

// configureNetwork brings lo and ifname up, gives ifname the address addr
// and a default route via gw. It waits up to wait for ifname to appear
// (virtio_net registers it while loading). Existing address or route is
// fine.
func configureNetwork(ifname string, addr netip.Prefix, gw netip.Addr, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	var ifi *net.Interface
	for {
		var err error
		if ifi, err = net.InterfaceByName(ifname); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("network interface %s did not appear within %s: is the VM started with a virtio-net-pci device? (%w)", ifname, wait, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r, err := openRTNL()
	if err != nil {
		return err
	}
	defer r.Close()
	if lo, err := net.InterfaceByName("lo"); err == nil {
		if err := r.do(unix.RTM_NEWLINK, 0, linkUpBody(lo.Index)); err != nil {
			return fmt.Errorf("bring lo up: %w", err)
		}
	}
	if err := r.do(unix.RTM_NEWLINK, 0, linkUpBody(ifi.Index)); err != nil {
		return fmt.Errorf("bring %s up: %w", ifname, err)
	}
	if err := r.do(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, addrBody(ifi.Index, addr)); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add %s to %s: %w", addr, ifname, err)
	}
	if err := r.do(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_EXCL, defaultRouteBody(ifi.Index, gw)); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add default route via %s: %w", gw, err)
	}
	return nil
}
