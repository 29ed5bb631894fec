package agent

import (
	"net"
	"net/netip"
	"testing"
)

// TestSystemAddressesMatchStdlib: the two-dump listing finds exactly the
// addresses the standard library finds link by link on this machine.
func TestSystemAddressesMatchStdlib(t *testing.T) {
	got, err := SystemAddresses{}.Addresses()
	if err != nil {
		t.Fatal(err)
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, ifc := range ifs {
		as, _ := ifc.Addrs()
		for _, a := range as {
			if n, ok := a.(*net.IPNet); ok {
				ip, _ := netip.AddrFromSlice(n.IP)
				want[ifc.Name+" "+ip.Unmap().String()] = true
			}
		}
	}
	seen := map[string]bool{}
	for _, a := range got {
		seen[a.Interface+" "+a.Addr.String()] = true
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("missing %s", k)
		}
	}
	for k := range seen {
		if !want[k] {
			t.Errorf("extra %s", k)
		}
	}
	if len(got) == 0 {
		t.Error("no address at all (loopback has one)")
	}
}
