package ovs

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gwd/internal/testbed"
)

// TestIntegrationReadInterfaceIDs reads a real ovsdb-server's Interface
// table: names and external_ids as Nutanix AHV and OpenStack set them.
func TestIntegrationReadInterfaceIDs(t *testing.T) {
	testbed.Integration(t)
	o := testbed.StartOVS(t, false)
	o.AddBridge(t, "br0")
	o.Vsctl(t, "add-port", "br0", "tap1", "--", "set", "Interface", "tap1",
		"external_ids:vm-uuid=6695eb01-f6a4-8304-79aa-97f2502e193f", `external_ids:attached-mac="52:54:00:12:34:56"`)
	o.Vsctl(t, "add-port", "br0", "tap2", "--", "set", "Interface", "tap2", "external_ids:iface-id=7c1e2d3f")
	got, err := ReadInterfaceIDs(context.Background(), o.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]InterfaceIDs{}
	for _, r := range got {
		byName[r.Name] = r
	}
	want := map[string]InterfaceIDs{
		"br0":  {Name: "br0"},
		"tap1": {Name: "tap1", ExternalIDs: map[string]string{"vm-uuid": "6695eb01-f6a4-8304-79aa-97f2502e193f", "attached-mac": "52:54:00:12:34:56"}},
		"tap2": {Name: "tap2", ExternalIDs: map[string]string{"iface-id": "7c1e2d3f"}},
	}
	if diff := cmp.Diff(want, byName); diff != "" {
		t.Errorf("interfaces (-want +got):\n%s", diff)
	}
	if _, err := ReadInterfaceIDs(context.Background(), "unix:"+t.TempDir()+"/none.sock"); err == nil {
		t.Error("no error from a socket nobody listens on")
	}
}
