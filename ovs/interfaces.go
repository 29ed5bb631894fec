package ovs

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
)

// InterfaceIDs is one OVS Interface row as a hypervisor integration sees
// it: its name, kernel ifIndex (0 when OVS has none) and external_ids,
// where Nutanix AHV and OpenStack record the VM a port belongs to
// (vm-uuid or vm-id, iface-id, attached-mac).
type InterfaceIDs struct {
	Name        string
	IfIndex     uint32
	ExternalIDs map[string]string
}

// ifaceIDsRow is the Interface table seen by ReadInterfaceIDs.
type ifaceIDsRow struct {
	UUID        string            `ovsdb:"_uuid"`
	Name        string            `ovsdb:"name"`
	IfIndex     *int              `ovsdb:"ifindex"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

// ReadInterfaceIDs reads every OVS Interface's name, ifindex and
// external_ids once, over a connection of its own to endpoint (unix:PATH
// or tcp:HOST:PORT), read-only, closed before it returns.
func ReadInterfaceIDs(ctx context.Context, endpoint string) ([]InterfaceIDs, error) {
	if strings.HasPrefix(endpoint, "ssl:") {
		return nil, fmt.Errorf("ovsdb %s: ssl endpoints are not read for interface ids", endpoint)
	}
	dbm, err := model.NewClientDBModel("Open_vSwitch", map[string]model.Model{"Interface": &ifaceIDsRow{}})
	if err != nil {
		return nil, err
	}
	quiet := logr.Discard()
	cli, err := client.NewOVSDBClient(dbm, client.WithEndpoint(endpoint), client.WithLogger(&quiet))
	if err != nil {
		return nil, fmt.Errorf("ovsdb %s: %w", endpoint, err)
	}
	defer cli.Close()
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := cli.Connect(cctx); err != nil {
		return nil, fmt.Errorf("ovsdb %s: %w", endpoint, connectCause(err))
	}
	var r ifaceIDsRow
	if _, err := cli.Monitor(cctx, cli.NewMonitor(client.WithTable(&r, &r.Name, &r.IfIndex, &r.ExternalIDs))); err != nil {
		return nil, fmt.Errorf("ovsdb %s: monitor Interface: %w", endpoint, err)
	}
	var rows []ifaceIDsRow
	if err := cli.List(cctx, &rows); err != nil {
		return nil, fmt.Errorf("ovsdb %s: list Interface: %w", endpoint, err)
	}
	out := make([]InterfaceIDs, 0, len(rows))
	for _, row := range rows {
		out = append(out, InterfaceIDs{Name: row.Name, IfIndex: uint32(max(deref(row.IfIndex), 0)), ExternalIDs: row.ExternalIDs})
	}
	return out, nil
}
