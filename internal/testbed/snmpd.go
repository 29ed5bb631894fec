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

	"github.com/gosnmp/gosnmp"

	"gwd/internal/testutil"
)

// SNMPDConfig is what a test asks of snmpd beyond the testbed's defaults.
type SNMPDConfig struct {
	// Community is the SNMPv2c read-only community for requests from
	// 127.0.0.1 ("public" when empty).
	Community string
	// Lines are more snmpd.conf lines: pass and pass_persist scripts that
	// serve the test's OIDs, createUser and rouser for SNMPv3, ...
	Lines []string
	// Env is added to snmpd's environment, and so to that of the pass
	// scripts it runs.
	Env []string
}

// SNMPD is a private snmpd on a free UDP port of 127.0.0.1. It loads no
// MIB files: OIDs are numeric.
type SNMPD struct {
	Dir       string // private directory: snmpd.conf, snmpd.log, persistent state
	Port      int
	Target    string // "127.0.0.1:<Port>"
	Community string // the v2c community it answers
}

// StartSNMPD writes snmpd.conf (the agent address, the community, then
// cfg.Lines), starts snmpd in the foreground and waits until it answers a
// v2c GET of sysUpTime.0. It is stopped when the test ends. A missing snmpd
// calls Missing.
func StartSNMPD(t testing.TB, cfg SNMPDConfig) *SNMPD {
	t.Helper()
	Integration(t)
	path := NeedCommand(t, "snmpd")
	if cfg.Community == "" {
		cfg.Community = "public"
	}
	dir := privateDir(t, "gwdsnmpd")
	port := testutil.FreeUDPPort(t, "127.0.0.1")
	s := &SNMPD{Dir: dir, Port: port, Target: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Community: cfg.Community}
	// The address is given here only (not also on the command line).
	conf := fmt.Sprintf("agentAddress udp:%s\ndontLogTCPWrappersConnects yes\nrocommunity %s 127.0.0.1\n%s\n",
		s.Target, cfg.Community, strings.Join(cfg.Lines, "\n"))
	confPath := filepath.Join(dir, "snmpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatalf("testbed: %v", err)
	}
	env := append(append(os.Environ(), "SNMP_PERSISTENT_DIR="+dir), cfg.Env...)
	d := spawn(t, dir, path, env, "-f", "-Lf", filepath.Join(dir, "snmpd.log"), "-C", "-c", confPath,
		"-p", filepath.Join(dir, "snmpd.pid"), "-M", "/nonexistent", "-m", "")
	d.stopAtCleanup(t, "snmpd.log")
	d.waitReady(t, 15*time.Second, s.ping, "snmpd.log")
	return s
}

// ping GETs sysUpTime.0 with the community.
func (s *SNMPD) ping() error {
	g := &gosnmp.GoSNMP{Target: "127.0.0.1", Port: uint16(s.Port), Community: s.Community,
		Version: gosnmp.Version2c, Timeout: 200 * time.Millisecond, Retries: 0}
	if err := g.Connect(); err != nil {
		return err
	}
	defer g.Conn.Close()
	res, err := g.Get([]string{".1.3.6.1.2.1.1.3.0"})
	if err != nil {
		return err
	}
	if len(res.Variables) != 1 || res.Variables[0].Type != gosnmp.TimeTicks {
		return fmt.Errorf("sysUpTime.0: %+v", res.Variables)
	}
	return nil
}
