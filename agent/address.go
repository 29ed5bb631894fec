package agent

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
)

// AddressConfig says how the agent address is chosen, in this order: an
// explicit address, else the best address of an explicit interface, else
// the best address inside the first matching CIDR, else the best address of
// the box by class.
type AddressConfig struct {
	IP        netip.Addr
	Interface string
	CIDRs     []netip.Prefix
}

// IfAddr is one address of one interface of the box.
type IfAddr struct {
	Interface string
	Index     int
	Addr      netip.Addr
	Up        bool
	Loopback  bool
}

// AddressWatcher lists the box's addresses and signals when they change.
type AddressWatcher interface {
	Addresses() ([]IfAddr, error)
	// Changes delivers a value after addresses changed, until ctx ends.
	Changes(ctx context.Context) <-chan struct{}
}

// Election is the result of choosing the agent address.
type Election struct {
	Addr      netip.Addr // invalid: no usable address, nothing is sent
	Interface string
	Reason    string // why this address, or why none
}

// addressClass ranks an address: lower is better.
//
//	0 global IPv4, 1 private IPv4, 2 global IPv6, 3 unique-local IPv6,
//	4 link-local, 5 loopback, 6 unusable (unspecified, multicast)
func addressClass(a netip.Addr) int {
	switch {
	case !a.IsValid() || a.IsUnspecified() || a.IsMulticast():
		return 6
	case a.IsLoopback():
		return 5
	case a.IsLinkLocalUnicast():
		return 4
	case a.Is4() && a.IsPrivate(), a.Is4() && netip.MustParsePrefix("100.64.0.0/10").Contains(a):
		return 1
	case a.Is4():
		return 0
	case a.IsPrivate():
		return 3
	}
	return 2
}

var classNames = []string{"global IPv4", "private IPv4", "global IPv6", "unique-local IPv6", "link-local", "loopback"}

// best picks the best-ranked usable address among addrs (stable: by class,
// then interface index, then address).
func best(addrs []IfAddr) (IfAddr, bool) {
	var c []IfAddr
	for _, a := range addrs {
		a.Addr = a.Addr.Unmap()
		if addressClass(a.Addr) < 6 && (a.Up || a.Loopback) {
			c = append(c, a)
		}
	}
	if len(c) == 0 {
		return IfAddr{}, false
	}
	sort.SliceStable(c, func(i, j int) bool {
		ci, cj := addressClass(c[i].Addr), addressClass(c[j].Addr)
		if ci != cj {
			return ci < cj
		}
		if c[i].Index != c[j].Index {
			return c[i].Index < c[j].Index
		}
		return c[i].Addr.Less(c[j].Addr)
	})
	return c[0], true
}

func elect(cfg AddressConfig, addrs []IfAddr, listErr error) Election {
	if cfg.IP.IsValid() {
		return Election{Addr: cfg.IP.Unmap(), Reason: "configured address"}
	}
	if listErr != nil {
		return Election{Reason: fmt.Sprintf("cannot list addresses: %v", listErr)}
	}
	if cfg.Interface != "" {
		var on []IfAddr
		for _, a := range addrs {
			if a.Interface == cfg.Interface {
				on = append(on, a)
			}
		}
		if b, ok := best(on); ok {
			return Election{Addr: b.Addr, Interface: b.Interface, Reason: "configured interface " + cfg.Interface}
		}
		return Election{Reason: fmt.Sprintf("configured interface %s has no usable address", cfg.Interface)}
	}
	for _, p := range cfg.CIDRs {
		var in []IfAddr
		for _, a := range addrs {
			if p.Contains(a.Addr.Unmap()) {
				in = append(in, a)
			}
		}
		if b, ok := best(in); ok {
			return Election{Addr: b.Addr, Interface: b.Interface, Reason: "inside configured CIDR " + p.String()}
		}
	}
	if b, ok := best(addrs); ok {
		return Election{Addr: b.Addr, Interface: b.Interface, Reason: "best address by class (" + classNames[addressClass(b.Addr)] + ")"}
	}
	if len(cfg.CIDRs) > 0 {
		return Election{Reason: "no address of the box is usable or inside the configured CIDRs"}
	}
	return Election{Reason: "no usable address on any interface that is up"}
}
