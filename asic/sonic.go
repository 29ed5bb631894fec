package asic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The SONiC backend reads SONiC's redis databases (names resolved through
// database_config.json):
//
//   - 4413:3 from CRM, COUNTERS_DB "CRM:STATS" (crm_stats_<res>_used and
//     _available, max = used + available), "CRM:ACL_STATS:<stage>:<bind>"
//     (ACL tables) and "CRM:ACL_TABLE_STATS:<oid>" (ACL entries and
//     counters per table, whose stage ASIC_DB's ACL table object gives);
//   - 4413:1 from the buffer pool watermarks against the pool sizes
//     (CONFIG_DB BUFFER_POOL, or APPL_DB BUFFER_POOL_TABLE where the
//     dynamic buffer model computes the size);
//   - 4413:2 from the ingress priority-group and egress queue shared
//     watermarks against the size of the pool each buffer profile uses,
//     per port of COUNTERS_PORT_NAME_MAP, on the kernel ifIndex of the
//     netdev of the same name.
//
// Watermarks are only ever read. SONiC keeps three copies of each
// watermark besides the raw one: PERIODIC_WATERMARKS (cleared by SONiC on
// its telemetry interval), USER_WATERMARKS (cleared by `sonic-clear
// watermark`) and PERSISTENT_WATERMARKS (cleared by `sonic-clear watermark
// -p`). gwd never clears any of them (it publishes nothing on
// WATERMARK_CLEAR_REQUEST), so operators and other tools see exactly what
// they would without gwd. It follows the table the configuration names
// (persistent by default) as SONiC's CLI reads it, plus the raw
// COUNTERS:<oid> value, which syncd's flex counter reads and clears in the
// ASIC every poll (the peak of the last flex counter interval). From the
// two it derives the peak since its previous read:
//
//	table value rose since the previous read   the table value (exact)
//	table value fell (someone cleared it)       max(table value, raw value)
//	table value unchanged                       the raw value (the peak of
//	                                            the latest flex interval)
//	first read                                  the raw value
//	only one of the two present                 that one
//
// The Source then keeps the largest of these between two exports.

// sonicTopologyTTL is how long name maps and buffer configuration are
// cached; watermark and CRM values are read every time.
const sonicTopologyTTL = time.Minute

// SONiC field names.
const (
	wmPool  = "SAI_BUFFER_POOL_STAT_WATERMARK_BYTES"
	wmPG    = "SAI_INGRESS_PRIORITY_GROUP_STAT_SHARED_WATERMARK_BYTES"
	wmQueue = "SAI_QUEUE_STAT_SHARED_WATERMARK_BYTES"
)

type sonicBackend struct {
	cfg  SONiCConfig
	idx  ifIndexer
	log  *slog.Logger
	open func(*sonicDBConfig) sonicDB
	now  func() time.Time

	dbc    *sonicDBConfig
	db     sonicDB
	topo   *sonicTopology
	topoAt time.Time
	prev   map[string]uint64 // watermark table value at the previous read, by key and field
}

func newSONiC(cfg SONiCConfig, idx ifIndexer, log *slog.Logger) *sonicBackend {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &sonicBackend{
		cfg: cfg, idx: idx, log: log, now: time.Now, prev: map[string]uint64{},
		open: func(c *sonicDBConfig) sonicDB { return newRedisDB(c, cfg.Transport, cfg.Timeout, log) },
	}
}

func (s *sonicBackend) name() string { return BackendSONiC }

func (s *sonicBackend) close() error {
	if s.db == nil {
		return nil
	}
	return s.db.close()
}

// sonicObj is one buffer object: a pool, a priority group or a queue.
type sonicObj struct {
	oid   string
	index int
	size  uint64 // size of its pool in bytes; 0 = unknown
}

type sonicPort struct {
	name    string
	ifIndex uint32
	pgs     []sonicObj
	uc, mc  []sonicObj // by queue index; at most MaxQueues each
}

type sonicTopology struct {
	pools     []sonicObj
	mcPool    []bool // parallel to pools
	ports     []sonicPort
	aclStats  []string          // CRM:ACL_STATS:* keys
	aclTables []string          // CRM:ACL_TABLE_STATS:* keys
	aclStage  map[string]string // ACL table oid ("0x...") -> INGRESS / EGRESS
	problem   error             // what is missing (such a topology is not cached)
}

// key joins the parts of a key of database db with its separator.
func (s *sonicBackend) key(db string, parts ...string) string {
	return strings.Join(parts, s.dbc.separator(db))
}

func (s *sonicBackend) read(ctx context.Context) (reading, error) {
	if s.db == nil {
		c, err := loadSONiCDBConfig(s.cfg.DBConfig)
		if err != nil {
			return reading{}, err
		}
		s.dbc, s.db = c, s.open(c)
	}
	if s.topo == nil || s.now().Sub(s.topoAt) >= sonicTopologyTTL {
		t, err := s.loadTopology(ctx)
		if err != nil {
			s.topo = nil
			return reading{}, err
		}
		s.topo, s.topoAt = t, s.now()
		if t.problem != nil {
			s.topoAt = time.Time{} // read the maps again next time
		}
	}
	var errs []error
	if s.topo.problem != nil {
		errs = append(errs, s.topo.problem)
	}
	var dbErr *dbError
	r := reading{}
	tables, err := s.readCRM(ctx)
	if errors.As(err, &dbErr) {
		s.topo = nil // reload the maps once redis answers again
		return reading{}, err
	}
	if err != nil {
		errs = append(errs, err)
	}
	r.tables = tables
	dev, ports, err := s.readWatermarks(ctx)
	if errors.As(err, &dbErr) {
		s.topo = nil
		return reading{}, err
	}
	if err != nil {
		errs = append(errs, err)
	}
	r.device, r.ports = dev, ports
	return r, errors.Join(errs...)
}

// loadTopology reads the name maps and the buffer configuration.
func (s *sonicBackend) loadTopology(ctx context.Context) (*sonicTopology, error) {
	const C = "COUNTERS_DB"
	names := []string{"COUNTERS_PORT_NAME_MAP", "COUNTERS_QUEUE_NAME_MAP", "COUNTERS_QUEUE_PORT_MAP",
		"COUNTERS_QUEUE_TYPE_MAP", "COUNTERS_QUEUE_INDEX_MAP", "COUNTERS_PG_NAME_MAP",
		"COUNTERS_PG_PORT_MAP", "COUNTERS_PG_INDEX_MAP", "COUNTERS_BUFFER_POOL_NAME_MAP"}
	maps, err := s.db.hgetall(ctx, C, names)
	if err != nil {
		return nil, err
	}
	portMap, qName, qPort, qType, qIndex, pgName, pgPort, pgIndex, poolMap :=
		maps[0], maps[1], maps[2], maps[3], maps[4], maps[5], maps[6], maps[7], maps[8]
	buf, err := s.loadBufferConfig(ctx)
	if err != nil {
		return nil, err
	}
	t := &sonicTopology{aclStage: map[string]string{}}
	if len(portMap) == 0 {
		t.problem = errors.New("COUNTERS_DB COUNTERS_PORT_NAME_MAP is missing (are SONiC's port counters running?)")
	}

	// Pools.
	poolNames := make([]string, 0, len(poolMap))
	for n := range poolMap {
		poolNames = append(poolNames, n)
	}
	sort.Strings(poolNames)
	for _, n := range poolNames {
		t.pools = append(t.pools, sonicObj{oid: poolMap[n], size: buf.poolSize[n]})
		t.mcPool = append(t.mcPool, slices.Contains(s.cfg.MulticastPools, n))
	}

	// Ports, their PGs and queues.
	oidPort := map[string]string{}
	for name, oid := range portMap {
		oidPort[oid] = name
	}
	pgs := map[string][]sonicObj{}
	for name, oid := range pgName {
		port, idx, ok := objectPlace(name, oid, pgPort, pgIndex, oidPort)
		if !ok {
			continue
		}
		pgs[port] = append(pgs[port], sonicObj{oid: oid, index: idx, size: buf.size("pg", port, idx)})
	}
	ucq, mcq := map[string][]sonicObj{}, map[string][]sonicObj{}
	for name, oid := range qName {
		port, idx, ok := objectPlace(name, oid, qPort, qIndex, oidPort)
		if !ok {
			continue
		}
		o := sonicObj{oid: oid, index: idx, size: buf.size("queue", port, idx)}
		switch qType[oid] {
		case "SAI_QUEUE_TYPE_MULTICAST":
			mcq[port] = append(mcq[port], o)
		default: // SAI_QUEUE_TYPE_UNICAST, and _ALL queues, which carry unicast too
			ucq[port] = append(ucq[port], o)
		}
	}
	byIndex := func(os []sonicObj) []sonicObj {
		sort.Slice(os, func(i, j int) bool { return os[i].index < os[j].index })
		if len(os) > MaxQueues {
			os = os[:MaxQueues]
		}
		return os
	}
	var missing []string
	for name := range portMap {
		idx, ok := s.idx.ifIndex(name)
		if !ok {
			missing = append(missing, name)
			continue
		}
		t.ports = append(t.ports, sonicPort{name: name, ifIndex: idx, pgs: pgs[name], uc: byIndex(ucq[name]), mc: byIndex(mcq[name])})
	}
	sort.Slice(t.ports, func(i, j int) bool { return t.ports[i].ifIndex < t.ports[j].ifIndex })
	if len(t.ports) == 0 && len(portMap) > 0 {
		t.problem = fmt.Errorf("no port of COUNTERS_PORT_NAME_MAP has a netdev under %s/class/net (is gwd in the host's network namespace?)", s.idx.root)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		s.log.Debug("asic: sonic ports without a netdev are skipped", "ports", missing)
	}

	// CRM ACL keys and the stage of each ACL table.
	if t.aclStats, err = s.db.scan(ctx, C, s.key(C, "CRM", "ACL_STATS", "*")); err != nil {
		return nil, err
	}
	if t.aclTables, err = s.db.scan(ctx, C, s.key(C, "CRM", "ACL_TABLE_STATS", "*")); err != nil {
		return nil, err
	}
	t.aclStats, t.aclTables = dedupe(t.aclStats), dedupe(t.aclTables)
	if len(t.aclTables) > 0 {
		const A = "ASIC_DB"
		keys := make([]string, len(t.aclTables))
		for i, k := range t.aclTables {
			keys[i] = s.key(A, "ASIC_STATE", "SAI_OBJECT_TYPE_ACL_TABLE", "oid", lastPart(k, s.dbc.separator(C)))
		}
		stages, ok, err := s.db.hget(ctx, A, "SAI_ACL_TABLE_ATTR_ACL_STAGE", keys)
		if err != nil {
			return nil, err
		}
		for i, k := range t.aclTables {
			if ok[i] {
				t.aclStage[lastPart(k, s.dbc.separator(C))] = strings.TrimPrefix(stages[i], "SAI_ACL_STAGE_")
			}
		}
	}
	return t, nil
}

// objectPlace finds the port and index of a PG or queue: from the
// COUNTERS_*_PORT_MAP and _INDEX_MAP, else from its name ("Ethernet0:3").
func objectPlace(name, oid string, portOf, indexOf, oidPort map[string]string) (string, int, bool) {
	port := oidPort[portOf[oid]]
	i := strings.LastIndexByte(name, ':')
	if port == "" && i > 0 {
		port = name[:i]
	}
	s := indexOf[oid]
	if s == "" && i >= 0 {
		s = name[i+1:]
	}
	idx, err := strconv.Atoi(s)
	if port == "" || err != nil || idx < 0 {
		return "", 0, false
	}
	return port, idx, true
}

func lastPart(key, sep string) string {
	if i := strings.LastIndex(key, sep); i >= 0 {
		return key[i+len(sep):]
	}
	return key
}

func dedupe(ss []string) []string {
	sort.Strings(ss)
	return slices.Compact(ss)
}

// readCRM reads CRM into 4413:3.
func (s *sonicBackend) readCRM(ctx context.Context) (*Tables, error) {
	const C = "COUNTERS_DB"
	keys := append([]string{s.key(C, "CRM", "STATS")}, s.topo.aclStats...)
	keys = append(keys, s.topo.aclTables...)
	hs, err := s.db.hgetall(ctx, C, keys)
	if err != nil {
		t := unknownTables()
		return &t, err
	}
	stats := hs[0]
	acl := map[string][]map[string]string{} // stage -> ACL_STATS hashes
	for i, k := range s.topo.aclStats {
		parts := strings.Split(k, s.dbc.separator(C))
		if len(parts) >= 4 && len(hs[1+i]) > 0 {
			acl[parts[2]] = append(acl[parts[2]], hs[1+i])
		}
	}
	var tables []aclTableStats
	for i, k := range s.topo.aclTables {
		h := hs[1+len(s.topo.aclStats)+i]
		if len(h) == 0 {
			continue // the table went away since the keys were listed
		}
		tables = append(tables, aclTableStats{stage: s.topo.aclStage[lastPart(k, s.dbc.separator(C))], stats: h})
	}
	t := crmTables(stats, acl, tables)
	if len(stats) == 0 {
		return &t, errors.New("COUNTERS_DB CRM:STATS is missing (is CRM polling enabled? `crm config polling interval`)")
	}
	return &t, nil
}

type aclTableStats struct {
	stage string // INGRESS, EGRESS, "" when unknown
	stats map[string]string
}

// crmTables maps CRM counters to hw_tables (the table is in docs/asic.md).
func crmTables(stats map[string]string, acl map[string][]map[string]string, aclTables []aclTableStats) Tables {
	t := unknownTables()
	get := func(h map[string]string, k string) (int64, bool) {
		v, err := strconv.ParseInt(h[k], 10, 64)
		return v, err == nil && v >= 0
	}
	used := func(res string) (int64, bool) { return get(stats, "crm_stats_"+res+"_used") }
	total := func(res string) (int64, bool) {
		u, ok1 := used(res)
		a, ok2 := get(stats, "crm_stats_"+res+"_available")
		return u + a, ok1 && ok2
	}
	set := func(f int) func(int64, bool) {
		return func(v int64, ok bool) {
			if ok {
				t[f] = v
			}
		}
	}
	pair := func(f int, res string) {
		set(f)(used(res))
		set(f + 1)(total(res))
	}
	pair(IPv4Entries, "ipv4_route")
	pair(IPv6Entries, "ipv6_route")
	pair(ECMPNexthops, "nexthop_group_member")
	pair(MACEntries, "fdb_entry")
	set(IPv4Routes)(used("ipv4_route"))
	set(IPv6Routes)(used("ipv6_route"))
	set(IPv4Neighbors)(used("ipv4_neighbor"))
	set(IPv6Neighbors)(used("ipv6_neighbor"))
	r4, ok4 := used("ipv4_route")
	r6, ok6 := used("ipv6_route")
	set(TotalRoutes)(r4+r6, ok4 && ok6)
	n4, ok4 := used("ipv4_neighbor")
	n6, ok6 := used("ipv6_neighbor")
	set(HostEntries)(n4+n6, ok4 && ok6)

	// ACL tables per stage (4413:3 calls them slices): used summed over the
	// bind points; the free tables come from one stage-wide pool, which SAI
	// reports for every bind point, so the largest is added once.
	for stage, f := range map[string]int{"INGRESS": ACLIngressSlices, "EGRESS": ACLEgressSlices} {
		hs := acl[stage]
		if len(hs) == 0 {
			continue
		}
		var sum, free int64
		ok := true
		for _, h := range hs {
			u, ok1 := get(h, "crm_stats_acl_table_used")
			a, ok2 := get(h, "crm_stats_acl_table_available")
			ok = ok && ok1 && ok2
			sum += u
			free = max(free, a)
		}
		if ok {
			t[f], t[f+1] = sum, sum+free
		}
	}

	// ACL entries and counters: per ACL table, summed per stage. One table
	// of unknown stage makes both stages unknown rather than undercounted.
	if len(stats) == 0 {
		return t
	}
	for _, a := range aclTables {
		if a.stage != "INGRESS" && a.stage != "EGRESS" {
			return t
		}
	}
	for stage, fs := range map[string][2]int{"INGRESS": {ACLIngressEntries, ACLIngressCounters}, "EGRESS": {ACLEgressEntries, ACLEgressCounters}} {
		for i, res := range []string{"acl_entry", "acl_counter"} {
			var u, m int64
			n, ok := 0, true
			for _, a := range aclTables {
				if a.stage != stage {
					continue
				}
				uv, ok1 := get(a.stats, "crm_stats_"+res+"_used")
				av, ok2 := get(a.stats, "crm_stats_"+res+"_available")
				ok = ok && ok1 && ok2
				u, m, n = u+uv, m+uv+av, n+1
			}
			switch {
			case !ok:
			case n == 0:
				t[fs[i]] = 0 // no ACL table of this stage: nothing in use, capacity unknown
			default:
				t[fs[i]], t[fs[i]+1] = u, m
			}
		}
	}
	return t
}

// watermark is one watermark to read: the object's oid and field.
type watermark struct {
	oid, field string
}

// readWatermarks reads the pool, PG and queue watermarks into 4413:1 and
// 4413:2.
func (s *sonicBackend) readWatermarks(ctx context.Context) (*DeviceBuffers, map[uint32]*PortBuffers, error) {
	const C = "COUNTERS_DB"
	table := "PERSISTENT_WATERMARKS"
	if s.cfg.Watermarks == "user" {
		table = "USER_WATERMARKS"
	}
	byField := map[string][]string{}
	add := func(field string, objs []sonicObj) {
		for _, o := range objs {
			byField[field] = append(byField[field], o.oid)
		}
	}
	add(wmPool, s.topo.pools)
	for _, p := range s.topo.ports {
		add(wmPG, p.pgs)
		add(wmQueue, p.uc)
		add(wmQueue, p.mc)
	}
	peaks := map[watermark]uint64{}
	seen := map[string]int{} // field -> watermarks found
	for field, oids := range byField {
		keys := make([]string, 0, 2*len(oids))
		for _, oid := range oids {
			keys = append(keys, s.key(C, "COUNTERS", oid), s.key(C, table, oid))
		}
		vals, ok, err := s.db.hget(ctx, C, field, keys)
		if err != nil {
			return nil, nil, err
		}
		for i, oid := range oids {
			raw, rawOK := parseU64(vals[2*i], ok[2*i])
			tab, tabOK := parseU64(vals[2*i+1], ok[2*i+1])
			pk := table + ":" + oid + "|" + field
			prev, hadPrev := s.prev[pk]
			if tabOK {
				s.prev[pk] = tab
			} else {
				delete(s.prev, pk)
			}
			if v, known := peakSince(prev, hadPrev, tab, tabOK, raw, rawOK); known {
				peaks[watermark{oid, field}] = v
				seen[field]++
			}
		}
	}
	var errs []error
	for field, what := range map[string]string{wmPool: "buffer pool", wmPG: "priority group", wmQueue: "queue"} {
		if len(byField[field]) > 0 && seen[field] == 0 {
			errs = append(errs, fmt.Errorf("no %s watermark in COUNTERS_DB (is `counterpoll watermark enable` set?)", what))
		}
	}
	pctOf := func(o sonicObj, field string) int32 {
		v, ok := peaks[watermark{o.oid, field}]
		if !ok {
			return Unknown
		}
		return pct(v, o.size)
	}
	dev := &DeviceBuffers{UC: Unknown, MC: Unknown}
	for i, o := range s.topo.pools {
		if s.topo.mcPool[i] {
			dev.MC = maxKnown(dev.MC, pctOf(o, wmPool))
		} else {
			dev.UC = maxKnown(dev.UC, pctOf(o, wmPool))
		}
	}
	ports := make(map[uint32]*PortBuffers, len(s.topo.ports))
	for _, p := range s.topo.ports {
		b := unknownPort()
		for _, o := range p.pgs {
			b.IngressUC = maxKnown(b.IngressUC, pctOf(o, wmPG))
		}
		for _, o := range p.uc {
			v := pctOf(o, wmQueue)
			b.QueueUC = append(b.QueueUC, v)
			b.EgressUC = maxKnown(b.EgressUC, v)
		}
		for _, o := range p.mc {
			v := pctOf(o, wmQueue)
			b.QueueMC = append(b.QueueMC, v)
			b.EgressMC = maxKnown(b.EgressMC, v)
		}
		ports[p.ifIndex] = &b
	}
	return dev, ports, errors.Join(errs...)
}

// peakSince derives the peak since the previous read from the watermark
// table value (tab, the largest since the table was last cleared) and the
// raw COUNTERS value (the peak of the latest flex counter interval); see
// the comment at the top of this file.
func peakSince(prev uint64, hadPrev bool, tab uint64, tabOK bool, raw uint64, rawOK bool) (uint64, bool) {
	switch {
	case !tabOK && !rawOK:
		return 0, false
	case !tabOK:
		return raw, true
	case !rawOK:
		return tab, true
	case !hadPrev:
		return raw, true
	case tab > prev:
		return tab, true
	case tab < prev:
		return max(tab, raw), true
	}
	return raw, true
}

func parseU64(s string, ok bool) (uint64, bool) {
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	return v, err == nil
}
