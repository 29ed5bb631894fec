package ovs

import (
	"cmp"
	"maps"
	"regexp"
	"slices"
	"strconv"

	"github.com/ovn-kubernetes/libovsdb/model"
)

// The OVSDB rows gwd reads and writes. The models are hand-written and hold
// only columns that every Open vSwitch since 2.x has (Interface.ifindex came
// with schema 7.4, OVS 2.1): libovsdb refuses to connect when a model names
// a column the server's schema lacks, and it monitors exactly these columns.

// ovsRow is the root row of table Open_vSwitch.
type ovsRow struct {
	UUID    string   `ovsdb:"_uuid"`
	Bridges []string `ovsdb:"bridges"`
}

// bridgeRow is a row of table Bridge.
type bridgeRow struct {
	UUID       string   `ovsdb:"_uuid"`
	Name       string   `ovsdb:"name"`
	SFlow      *string  `ovsdb:"sflow"`
	DatapathID *string  `ovsdb:"datapath_id"`
	Ports      []string `ovsdb:"ports"`
}

// portRow is a row of table Port.
type portRow struct {
	UUID       string   `ovsdb:"_uuid"`
	Name       string   `ovsdb:"name"`
	Interfaces []string `ovsdb:"interfaces"`
}

// ifaceRow is a row of table Interface.
type ifaceRow struct {
	UUID      string `ovsdb:"_uuid"`
	Name      string `ovsdb:"name"`
	IfIndex   *int   `ovsdb:"ifindex"`
	LinkSpeed *int   `ovsdb:"link_speed"`
	Type      string `ovsdb:"type"`
	OFPort    *int   `ovsdb:"ofport"`
}

// sflowRow is a row of table sFlow. sFlow is not a root table: a row that
// no Bridge references is garbage-collected when the transaction commits.
type sflowRow struct {
	UUID        string            `ovsdb:"_uuid"`
	Agent       *string           `ovsdb:"agent"`
	Header      *int              `ovsdb:"header"`
	Polling     *int              `ovsdb:"polling"`
	Sampling    *int              `ovsdb:"sampling"`
	Targets     []string          `ovsdb:"targets"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

// dbModel is the client model of database Open_vSwitch.
func dbModel() (model.ClientDBModel, error) {
	return model.NewClientDBModel("Open_vSwitch", map[string]model.Model{
		"Open_vSwitch": &ovsRow{},
		"Bridge":       &bridgeRow{},
		"Port":         &portRow{},
		"Interface":    &ifaceRow{},
		"sFlow":        &sflowRow{},
	})
}

// snapshot is one reading of the monitored tables, keyed by row UUID.
type snapshot struct {
	bridges map[string]bridgeRow
	ports   map[string]portRow
	ifaces  map[string]ifaceRow
	sflows  map[string]sflowRow
}

// owned reports whether an sFlow row carries gwd's mark.
func owned(r sflowRow) bool { return r.ExternalIDs[OwnerKey] == OwnerValue }

// selector decides which bridges gwd manages.
type selector struct{ include, exclude *regexp.Regexp }

func (s selector) match(name string) bool {
	if s.include != nil && !s.include.MatchString(name) {
		return false
	}
	return s.exclude == nil || !s.exclude.MatchString(name)
}

// view builds the Bridges() answer: the selected bridges sorted by name,
// each with one Port per OVS interface, sorted by OpenFlow port number.
func (sn *snapshot) view(sel selector) []Bridge {
	var out []Bridge
	for _, b := range sn.bridges {
		if !sel.match(b.Name) {
			continue
		}
		vb := Bridge{Name: b.Name, UUID: b.UUID}
		if b.DatapathID != nil {
			vb.DatapathID, _ = strconv.ParseUint(*b.DatapathID, 16, 64)
		}
		if b.SFlow != nil {
			r, ok := sn.sflows[*b.SFlow]
			vb.Attached = ok && owned(r)
		}
		for _, pu := range b.Ports {
			p, ok := sn.ports[pu]
			if !ok {
				continue
			}
			for _, iu := range p.Interfaces {
				i, ok := sn.ifaces[iu]
				if !ok {
					continue
				}
				vb.Ports = append(vb.Ports, Port{
					Name:    i.Name,
					IfIndex: uint32(deref(i.IfIndex)),
					OFPort:  deref(i.OFPort),
					Type:    i.Type,
					Speed:   uint64(max(deref(i.LinkSpeed), 0)),
				})
			}
		}
		slices.SortFunc(vb.Ports, func(a, b Port) int {
			return cmp.Or(cmp.Compare(a.OFPort, b.OFPort), cmp.Compare(a.Name, b.Name))
		})
		out = append(out, vb)
	}
	slices.SortFunc(out, func(a, b Bridge) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// physical reports whether an interface type is a NIC-like port whose speed
// should drive the default sampling rate: system devices ("", the type of
// kernel NICs and veths), DPDK and AF_XDP ports. Internal, patch and tunnel
// ports are not.
func physical(typ string) bool {
	switch typ {
	case "", "system", "dpdk", "afxdp", "afxdp-nonpmd":
		return true
	}
	return false
}

// desiredRow is the content gwd wants in its sFlow row; nil pointers are
// unset columns (OVS then uses its defaults: sampling 400, polling 30 s,
// header 128 bytes, agent chosen by OVS).
type desiredRow struct {
	agent                     *string
	header, polling, sampling *int
	targets                   []string
}

func (d desiredRow) equal(r sflowRow) bool {
	return eqPtr(d.agent, r.Agent) && eqPtr(d.header, r.Header) &&
		eqPtr(d.polling, r.Polling) && eqPtr(d.sampling, r.Sampling) &&
		slices.Equal(d.targets, sortedCopy(r.Targets))
}

func eqPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return slices.Compact(c)
}

func optInt(v int) *int {
	if v <= 0 {
		return nil
	}
	return &v
}

// plan is what converge must write: one transaction, or nothing when
// create, update, attach and detach are all empty.
type plan struct {
	keeper  string     // UUID of the owned row to keep ("" when none exists)
	create  bool       // insert the row (named UUID) and attach it
	update  bool       // rewrite the keeper's settings columns
	row     desiredRow // the row's content (create or update)
	attach  []string   // bridge UUIDs to point at gwd's row
	detach  []string   // bridge UUIDs whose sflow reference must be cleared
	foreign []string   // selected bridges left alone (policy leave), by name
}

func (p plan) empty() bool {
	return !p.create && !p.update && len(p.attach) == 0 && len(p.detach) == 0
}

// makePlan decides how to converge snapshot sn to the desired state:
// gwd's one row with content want (nil: no row at all, as on shutdown or
// without targets) referenced by every selected bridge, subject to policy
// for bridges that carry somebody else's row. The content's sampling rate,
// when s.Sampling is 0, follows the fastest physical port of the bridges
// that will carry the row.
func makePlan(sn *snapshot, sel selector, policy string, want *Settings, samplingFor func(uint64) int) plan {
	var p plan
	// The keeper: the owned row referenced by the most selected bridges,
	// ties broken by UUID so every run picks the same one.
	refs := map[string]int{}
	for _, b := range sn.bridges {
		if b.SFlow != nil && sel.match(b.Name) {
			refs[*b.SFlow]++
		}
	}
	for _, u := range slices.Sorted(maps.Keys(sn.sflows)) {
		if owned(sn.sflows[u]) && (p.keeper == "" || refs[u] > refs[p.keeper]) {
			p.keeper = u
		}
	}
	carriers := map[string]bool{} // bridges that will reference gwd's row
	for _, u := range slices.Sorted(maps.Keys(sn.bridges)) {
		b := sn.bridges[u]
		cur := ""
		if b.SFlow != nil {
			cur = *b.SFlow
		}
		ours := cur != "" && owned(sn.sflows[cur])
		switch {
		case want == nil || len(want.Targets) == 0 || !sel.match(b.Name):
			if ours {
				p.detach = append(p.detach, u)
			}
		case cur == "" || ours || policy != PolicyLeave:
			carriers[u] = true
			if cur == "" || cur != p.keeper {
				p.attach = append(p.attach, u)
			}
		default:
			p.foreign = append(p.foreign, b.Name)
		}
	}
	if len(carriers) == 0 {
		p.attach = nil
		return p
	}
	p.row = desiredRow{
		agent:   nil,
		header:  optInt(want.Header),
		polling: optInt(want.Polling),
		targets: sortedCopy(want.Targets),
	}
	if want.Agent != "" {
		a := want.Agent
		p.row.agent = &a
	}
	p.row.sampling = optInt(want.Sampling)
	if want.Sampling <= 0 {
		p.row.sampling = optInt(samplingFor(sn.fastest(carriers)))
	}
	if p.keeper == "" {
		p.create = true
	} else {
		p.update = !p.row.equal(sn.sflows[p.keeper])
	}
	return p
}

// fastest is the highest link speed (bps) among the physical interfaces of
// the given bridges, 0 when none reports one.
func (sn *snapshot) fastest(bridges map[string]bool) uint64 {
	var best uint64
	for u := range bridges {
		for _, pu := range sn.bridges[u].Ports {
			for _, iu := range sn.ports[pu].Interfaces {
				i, ok := sn.ifaces[iu]
				if ok && physical(i.Type) && i.LinkSpeed != nil && uint64(max(*i.LinkSpeed, 0)) > best {
					best = uint64(*i.LinkSpeed)
				}
			}
		}
	}
	return best
}

// DefaultSamplingFor is the sampling rate used when Settings.Sampling is 0
// and NewProgrammer got no samplingFor: 1 in (speed in Mb/s), as hsflowd
// does (1 in 1000 at 1 Gb/s, 1 in 10000 at 10 Gb/s), and 1 in 400 when no
// port reports a speed.
func DefaultSamplingFor(speedBps uint64) int {
	if speedBps == 0 {
		return 400
	}
	return int(max(speedBps/1_000_000, 1))
}
