package agent

import (
	"context"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// SystemAddresses lists the box's interface addresses and follows changes
// through netlink address and link notifications.
type SystemAddresses struct{}

// Addresses implements AddressWatcher with two netlink dumps whatever the
// number of links: the links (names, flags) and every address of the box
// (net.Interface.Addrs would dump all addresses once per link).
func (SystemAddresses) Addresses() ([]IfAddr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	byIndex := make(map[int]net.Interface, len(ifs))
	for _, ifc := range ifs {
		byIndex[ifc.Index] = ifc
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, err
	}
	var out []IfAddr
	for _, a := range addrs {
		ifc, ok := byIndex[a.LinkIndex]
		if !ok || a.IPNet == nil {
			continue // the interface went away meanwhile
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		out = append(out, IfAddr{
			Interface: ifc.Name, Index: ifc.Index, Addr: ip.Unmap(),
			Up: ifc.Flags&net.FlagUp != 0, Loopback: ifc.Flags&net.FlagLoopback != 0,
		})
	}
	return out, nil
}

// Changes implements AddressWatcher. Without netlink (not Linux, or no
// permission) it never fires, and the agent keeps its first election.
func (SystemAddresses) Changes(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	addrCh := make(chan netlink.AddrUpdate, 16)
	linkCh := make(chan netlink.LinkUpdate, 16)
	done := make(chan struct{})
	go func() {
		<-ctx.Done()
		close(done)
	}()
	errA := netlink.AddrSubscribeWithOptions(addrCh, done, netlink.AddrSubscribeOptions{})
	errL := netlink.LinkSubscribeWithOptions(linkCh, done, netlink.LinkSubscribeOptions{})
	if errA != nil && errL != nil {
		return out
	}
	notify := func() {
		select {
		case out <- struct{}{}:
		default:
		}
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-addrCh:
				if !ok {
					addrCh = nil
					continue
				}
				notify()
			case _, ok := <-linkCh:
				if !ok {
					linkCh = nil
					continue
				}
				notify()
			}
		}
	}()
	return out
}
