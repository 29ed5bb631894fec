package testbed

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gwd/internal/testutil"
)

// Bird is a private BIRD 2 daemon, typically a BGP peer of the agent.
type Bird struct {
	Dir  string // private directory: bird.conf, bird.log
	Ctl  string // control socket, for birdc -s
	Port int    // a free TCP port for the configuration to listen on
	// Addr is the address the default configuration listens on:
	// 127.0.0.2 (another loopback address than the agent's).
	Addr string
}

// BirdPeer is the default configuration (TESTBED.md): a passive BGP peer,
// AS 65001 on Addr:Port, for a speaker at 127.0.0.1 in AS 65002; it
// exports one static route, 203.0.113.0/24, with next hop 192.0.2.1 (a
// loopback next hop would read as a withdraw to gobgp).
func BirdPeer(b *Bird) string {
	return fmt.Sprintf(`log "%s" all;
router id 10.255.0.1;
protocol device {}
protocol static s4 { ipv4; route 203.0.113.0/24 blackhole; }
protocol bgp gwd {
  local %s port %d as 65001; neighbor 127.0.0.1 as 65002;
  multihop; strict bind on; passive on;
  ipv4 { import all; export all; next hop address 192.0.2.1; };
}
`, filepath.Join(b.Dir, "bird.log"), b.Addr, b.Port)
}

// StartBird writes the configuration conf returns (BirdPeer when nil),
// given the Bird with its directory, address and free port filled in,
// starts bird in the foreground and waits until birdc says it is up. It is
// stopped when the test ends. A missing bird or birdc calls Missing.
func StartBird(t testing.TB, conf func(*Bird) string) *Bird {
	t.Helper()
	Integration(t)
	path := NeedCommand(t, "bird")
	NeedCommand(t, "birdc")
	if conf == nil {
		conf = BirdPeer
	}
	dir := privateDir(t, "gwdbird")
	b := &Bird{Dir: dir, Ctl: filepath.Join(dir, "bird.ctl"), Addr: "127.0.0.2"}
	b.Port = testutil.FreeTCPPort(t, b.Addr)
	confPath := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(confPath, []byte(conf(b)), 0o644); err != nil {
		t.Fatalf("testbed: %v", err)
	}
	d := spawn(t, dir, path, nil, "-f", "-c", confPath, "-s", b.Ctl, "-P", filepath.Join(dir, "bird.pid"))
	d.stopAtCleanup(t, "bird.log")
	d.waitReady(t, 15*time.Second, func() error {
		out, err := runEnv(nil, "birdc", "-s", b.Ctl, "show", "status")
		if err == nil && !strings.Contains(out, "Daemon is up and running") {
			err = fmt.Errorf("birdc show status: %s", out)
		}
		return err
	}, "bird.log")
	return b
}

// Birdc runs `birdc -s Ctl args...` and returns its output, failing the
// test on an error.
func (b *Bird) Birdc(t testing.TB, args ...string) string {
	t.Helper()
	return mustRun(t, "birdc", append([]string{"-s", b.Ctl}, args...)...)
}

// Endpoint is Addr:Port.
func (b *Bird) Endpoint() string { return net.JoinHostPort(b.Addr, strconv.Itoa(b.Port)) }
