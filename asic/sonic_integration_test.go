package asic

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"gwd/agent"
	"gwd/internal/testbed"
	"gwd/internal/testutil"
	"gwd/sflow"
)

// redisServer is the testbed's redis-server (a free loopback port and a
// unix socket, in a private directory) with the users the test needs.
type redisServer struct{ *testbed.Redis }

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	r := &redisServer{testbed.StartRedis(t)}
	r.restrict(t)
	return r
}

// restart starts the stopped server again (empty) with the same users.
func (r *redisServer) restart(t *testing.T) {
	t.Helper()
	r.Start(t)
	r.restrict(t)
}

// restrict makes the users: gwd connects as the default user, which may
// not write or publish: a write, or a WATERMARK_CLEAR_REQUEST, would fail
// and show as an unhealthy backend. The test writes its fixture as another
// user.
func (r *redisServer) restrict(t *testing.T) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), Protocol: 2, DisableIdentity: true})
	defer c.Close()
	ctx := context.Background()
	for _, cmd := range [][]any{
		{"ACL", "SETUSER", "fixture", "on", ">fixture-pass", "~*", "&*", "+@all"},
		{"ACL", "SETUSER", "default", "-@write", "-@pubsub"},
	} {
		if err := c.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	if err := c.HSet(ctx, "probe", "f", "v").Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("the default user can still write: %v", err)
	}
}

// client connects to database db as the fixture user (who may write).
func (r *redisServer) client(t *testing.T, db string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: r.Addr(), DB: dbIDs(t)[db],
		Username: "fixture", Password: "fixture-pass", Protocol: 2, DisableIdentity: true})
}

// writeDBConfig writes a database_config.json pointing at r.
func (r *redisServer) writeDBConfig(t *testing.T) string {
	t.Helper()
	var cfg map[string]any
	b, err := os.ReadFile("testdata/sonic/database_config.json")
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &cfg)
	inst := cfg["INSTANCES"].(map[string]any)["redis"].(map[string]any)
	inst["port"], inst["unix_socket_path"] = r.Port, r.Sock
	b, _ = json.MarshalIndent(cfg, "", "  ")
	p := filepath.Join(r.Dir, "database_config.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// dbIDs maps SONiC database names to numbers, from the fixture's config.
func dbIDs(t *testing.T) map[string]int {
	c, err := loadSONiCDBConfig("testdata/sonic/database_config.json")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for n, d := range c.Databases {
		ids[n] = d.ID
	}
	return ids
}

// load writes the SONiC fixture into the numbered databases.
func (r *redisServer) load(t *testing.T, f redisFixture) {
	t.Helper()
	for db, keys := range f {
		c := r.client(t, db)
		p := c.Pipeline()
		for k, h := range keys {
			p.HSet(context.Background(), k, h)
		}
		if _, err := p.Exec(context.Background()); err != nil {
			t.Fatalf("load %s: %v", db, err)
		}
		c.Close()
	}
}

func (r *redisServer) hset(t *testing.T, db, key, field, value string) {
	t.Helper()
	c := r.client(t, db)
	defer c.Close()
	if err := c.HSet(context.Background(), key, field, value).Err(); err != nil {
		t.Fatal(err)
	}
}

// The lines gwd decode prints for the fixture: 4413:3 and 4413:1 on the
// host sample 2:1, 4413:2 on each port's 0:ifIndex sample.
var (
	sonicHostLines = []string{
		"bcm_asic_host_entries 48", "bcm_host_entries_max 4294967295",
		"bcm_ipv4_entries 1200", "bcm_ipv4_entries_max 31200",
		"bcm_ipv6_entries 300", "bcm_ipv6_entries_max 10000",
		"bcm_ipv4_ipv6_entries 4294967295", "bcm_long_ipv6_entries 4294967295",
		"bcm_total_routes 1500", "bcm_total_routes_max 4294967295",
		"bcm_ecmp_nexthops 64", "bcm_ecmp_nexthops_max 16384",
		"bcm_mac_entries 500", "bcm_mac_entries_max 32768",
		"bcm_ipv4_neighbors 40", "bcm_ipv6_neighbors 8", "bcm_ipv4_routes 1200", "bcm_ipv6_routes 300",
		"bcm_acl_ingress_entries 15", "bcm_acl_ingress_entries_max 768",
		"bcm_acl_ingress_counters 15", "bcm_acl_ingress_counters_max 768",
		"bcm_acl_ingress_meters 4294967295", "bcm_acl_ingress_slices 3", "bcm_acl_ingress_slices_max 9",
		"bcm_acl_egress_entries 3", "bcm_acl_egress_entries_max 512",
		"bcm_acl_egress_counters 3", "bcm_acl_egress_counters_max 512",
		"bcm_acl_egress_slices 1", "bcm_acl_egress_slices_max 4",
		"bst_device_uc_pc 37.50", "bst_device_mc_pc unknown",
	}
	sonicPort5Lines = []string{
		"ifName Ethernet0", // from the other contributor of 0:5: one sample per port
		"bst_port_ingress_uc_pc 15.00", "bst_port_ingress_mc_pc unknown",
		"bst_port_egress_uc_pc 10.00", "bst_port_egress_mc_pc 10.00",
		"bst_port_egress_queue_uc_pc.0 1.00", "bst_port_egress_queue_uc_pc.1 0.00",
		"bst_port_egress_queue_uc_pc.2 2.00", "bst_port_egress_queue_uc_pc.3 10.00",
		"bst_port_egress_queue_uc_pc.4 5.00", "bst_port_egress_queue_uc_pc.5 5.00",
		"bst_port_egress_queue_uc_pc.6 0.00", "bst_port_egress_queue_uc_pc.7 unknown",
		"bst_port_egress_queue_mc_pc.0 0.50", "bst_port_egress_queue_mc_pc.1 0.00",
		"bst_port_egress_queue_mc_pc.2 10.00", "bst_port_egress_queue_mc_pc.3 0.10",
	}
	sonicPort6Lines = []string{
		"bst_port_ingress_uc_pc 2.50", "bst_port_egress_uc_pc 20.00", "bst_port_egress_mc_pc unknown",
		"bst_port_egress_queue_uc_pc.0 0.10", "bst_port_egress_queue_uc_pc.3 20.00",
		"bst_port_egress_queue_mc_pc.0 unknown", "bst_port_egress_queue_mc_pc.3 unknown",
	}
)

func TestIntegrationSONiCRedis(t *testing.T) {
	testbed.Integration(t)
	r := startRedis(t)
	fixture := loadRedisFixture(t)
	r.load(t, fixture)
	dbConfig := r.writeDBConfig(t)

	for _, transport := range []string{"tcp", "auto"} { // auto finds the unix socket
		t.Run("read/"+transport, func(t *testing.T) {
			cfg := SONiCConfig{DBConfig: dbConfig, Transport: transport}
			cfg.normalize()
			b := newSONiC(cfg, ifIndexer{root: "testdata/sys"}, nil)
			defer b.close()
			got, err := b.read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := reading{tables: &Tables{}, device: &DeviceBuffers{UC: 3750, MC: Unknown}, ports: fixturePorts()}
			*want.tables = fixtureTables()
			if d := cmp.Diff(want, got, readingCmp); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			o, _ := b.db.(*redisDB).opts("COUNTERS_DB")
			if wantNet := map[string]string{"tcp": "tcp", "auto": "unix"}[transport]; o.Network != wantNet {
				t.Errorf("transport %s connected over %s", transport, o.Network)
			}
		})
	}

	// End to end: a real agent sends to a loopback collector; each
	// datagram decodes, and gwd decode's lines show the fixture's values.
	c := testutil.NewCollector(t)
	a := startAgent(t, c)
	a.Register("host", agent.InterfaceSource(5), agent.PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
		return append(recs, &sflow.PortName{Name: []byte("Ethernet0")}), nil
	}))
	s, err := New(Config{Backends: []string{BackendSONiC}, Interval: 200 * time.Millisecond,
		SONiC: SONiCConfig{DBConfig: dbConfig}, SysRoot: "testdata/sys"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runSource(t, s, a)
	sampleText(t, c, agent.HostSource, 10*time.Second, hasLines(sonicHostLines...))
	sampleText(t, c, agent.InterfaceSource(5), 10*time.Second, hasLines(sonicPort5Lines...))
	sampleText(t, c, agent.InterfaceSource(6), 10*time.Second, hasLines(sonicPort6Lines...))

	// A new peak in SONiC's persistent watermark table shows in the next export.
	r.hset(t, "COUNTERS_DB", "PERSISTENT_WATERMARKS:oid:0x15020000000003", wmQueue, "3000000")
	sampleText(t, c, agent.InterfaceSource(5), 10*time.Second, hasLines("bst_port_egress_queue_uc_pc.3 25.00", "bst_port_egress_uc_pc 25.00"))
	r.hset(t, "COUNTERS_DB", "COUNTERS:oid:0x18000000000a2", wmPool, "9000000") // egress_lossless_pool 75%
	sampleText(t, c, agent.HostSource, 10*time.Second, hasLines("bst_device_uc_pc 75.00"))

	// redis goes away: the backend turns unhealthy, its fields unknown,
	// and the other contributor of 0:5 keeps exporting.
	r.Stop(t)
	testutil.Eventually(t, 10*time.Second, func() error {
		if h := a.Health()["asic/sonic"]; h == "" {
			return fmt.Errorf("asic/sonic still healthy: %v", a.Health())
		}
		return nil
	})
	t.Logf("health with redis down: %q", a.Health()["asic/sonic"])
	sampleText(t, c, agent.HostSource, 10*time.Second, hasLines("bst_device_uc_pc unknown", "bcm_ipv4_entries 4294967295", "bcm_mac_entries_max 4294967295"))
	sampleText(t, c, agent.InterfaceSource(5), 10*time.Second, hasLines("ifName Ethernet0", "bst_port_ingress_uc_pc unknown", "bst_port_egress_queue_uc_pc.3 unknown"))

	// redis is back (empty, as after a SONiC reload; the fixture is loaded
	// again): the backend recovers.
	r.restart(t)
	r.load(t, fixture)
	testutil.Eventually(t, 10*time.Second, func() error {
		if h := a.Health()["asic/sonic"]; h != "" {
			return fmt.Errorf("asic/sonic: %s", h)
		}
		return nil
	})
	sampleText(t, c, agent.HostSource, 10*time.Second, hasLines(sonicHostLines...))
	sampleText(t, c, agent.InterfaceSource(5), 10*time.Second, hasLines(sonicPort5Lines...))
}
