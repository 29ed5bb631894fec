package asic

import (
	"context"
	"strconv"
	"strings"
)

// sonicBuffers is SONiC's buffer configuration as far as percentages need
// it: pool sizes, and which pool each priority group and queue draws from.
type sonicBuffers struct {
	poolSize    map[string]uint64 // pool name -> bytes (absent: unknown)
	poolType    map[string]string // pool name -> ingress / egress
	profilePool map[string]string // profile name -> pool name
	// objects: "pg"/"queue" -> port -> ranges with their profile
	objects map[string]map[string][]sonicRange
}

type sonicRange struct {
	lo, hi  int
	profile string
}

// loadBufferConfig reads BUFFER_POOL, BUFFER_PROFILE, BUFFER_PG and
// BUFFER_QUEUE from APPL_DB (what buffermgrd applied, including the pool
// sizes and profiles the dynamic buffer model computes) and CONFIG_DB;
// APPL_DB wins where both have an entry.
func (s *sonicBackend) loadBufferConfig(ctx context.Context) (*sonicBuffers, error) {
	b := &sonicBuffers{
		poolSize: map[string]uint64{}, poolType: map[string]string{}, profilePool: map[string]string{},
		objects: map[string]map[string][]sonicRange{"pg": {}, "queue": {}},
	}
	// CONFIG_DB first, then APPL_DB overwrites.
	for _, src := range []struct{ db, pool, profile, pg, queue string }{
		{"CONFIG_DB", "BUFFER_POOL", "BUFFER_PROFILE", "BUFFER_PG", "BUFFER_QUEUE"},
		{"APPL_DB", "BUFFER_POOL_TABLE", "BUFFER_PROFILE_TABLE", "BUFFER_PG_TABLE", "BUFFER_QUEUE_TABLE"},
	} {
		if _, ok := s.dbc.Databases[src.db]; !ok {
			continue
		}
		sep := s.dbc.separator(src.db)
		read := func(table string) (keys []string, hs []map[string]string, err error) {
			keys, err = s.db.scan(ctx, src.db, table+sep+"*")
			if err != nil {
				return nil, nil, err
			}
			keys = dedupe(keys)
			hs, err = s.db.hgetall(ctx, src.db, keys)
			return keys, hs, err
		}
		keys, hs, err := read(src.pool)
		if err != nil {
			return nil, err
		}
		for i, k := range keys {
			name := strings.TrimPrefix(k, src.pool+sep)
			if v, err := strconv.ParseUint(hs[i]["size"], 10, 64); err == nil && v > 0 {
				b.poolSize[name] = v
			}
			if t := hs[i]["type"]; t != "" {
				b.poolType[name] = t
			}
		}
		if keys, hs, err = read(src.profile); err != nil {
			return nil, err
		}
		for i, k := range keys {
			if p := refName(hs[i]["pool"]); p != "" {
				b.profilePool[strings.TrimPrefix(k, src.profile+sep)] = p
			}
		}
		for kind, table := range map[string]string{"pg": src.pg, "queue": src.queue} {
			if keys, hs, err = read(table); err != nil {
				return nil, err
			}
			for i, k := range keys {
				parts := strings.Split(strings.TrimPrefix(k, table+sep), sep)
				profile := refName(hs[i]["profile"])
				if len(parts) != 2 || profile == "" || profile == "NULL" {
					continue
				}
				lo, hi, ok := parseRange(parts[1])
				if !ok {
					continue
				}
				for _, port := range strings.Split(parts[0], ",") {
					b.objects[kind][port] = setRange(b.objects[kind][port], sonicRange{lo, hi, profile})
				}
			}
		}
	}
	return b, nil
}

// size returns the size of the pool that priority group or queue idx of
// port draws from; 0 when unknown. Without a configured profile, the only
// pool of the right direction is used, if there is exactly one.
func (b *sonicBuffers) size(kind, port string, idx int) uint64 {
	for _, r := range b.objects[kind][port] {
		if idx >= r.lo && idx <= r.hi {
			return b.poolSize[b.profilePool[r.profile]]
		}
	}
	dir := "egress"
	if kind == "pg" {
		dir = "ingress"
	}
	var only string
	for name, t := range b.poolType {
		if t == dir {
			if only != "" {
				return 0
			}
			only = name
		}
	}
	return b.poolSize[only]
}

// setRange adds r to rs, replacing an entry with the same range.
func setRange(rs []sonicRange, r sonicRange) []sonicRange {
	for i := range rs {
		if rs[i].lo == r.lo && rs[i].hi == r.hi {
			rs[i] = r
			return rs
		}
	}
	return append(rs, r)
}

// refName strips the old reference syntax of SONiC buffer tables:
// "[BUFFER_PROFILE|name]" or "[BUFFER_PROFILE_TABLE:name]" become "name".
func refName(v string) string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		v = v[1 : len(v)-1]
		if i := strings.LastIndexAny(v, "|:"); i >= 0 {
			v = v[i+1:]
		}
	}
	return v
}

// parseRange parses "3" or "3-4".
func parseRange(s string) (lo, hi int, ok bool) {
	a, b, found := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := lo, error(nil)
	if found {
		hi, err2 = strconv.Atoi(b)
	}
	if err1 != nil || err2 != nil || lo < 0 || hi < lo {
		return 0, 0, false
	}
	return lo, hi, true
}
