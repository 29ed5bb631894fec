package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// OVSLockFile serializes every OVS testbed with ovs-vswitchd across test
// processes: a machine has room for one userspace (netdev) datapath, and
// test binaries of different packages run in parallel.
const OVSLockFile = "/tmp/gwd-ovs-testbed.lock"

const (
	ovsSchema  = "/usr/share/openvswitch/vswitch.ovsschema"
	cmdTimeout = 30 * time.Second
)

// OVS is a private Open vSwitch: ovsdb-server and, when asked for,
// ovs-vswitchd with the userspace datapath, in a private directory.
type OVS struct {
	Dir string // private directory: database, sockets, pidfiles, logs
	DB  string // ovsdb-server's unix socket path

	env      []string
	vswitchd bool

	mu      sync.Mutex
	procs   map[string]*daemon // by daemon name
	veths   []string           // root-namespace ends, deleted at cleanup
	netns   map[string]string  // caller's namespace name -> real name
	nsPorts map[string]int     // ports per namespace, to name the peers
}

// Endpoint is the OVSDB endpoint for clients: "unix:" + DB.
func (o *OVS) Endpoint() string { return "unix:" + o.DB }

// StartOVS starts ovsdb-server on a fresh database in a private directory
// and, with withVswitchd, ovs-vswitchd (userspace datapath, dpif warnings
// silenced). The daemons are children of the test process (killed with
// it); Cleanup stops them by PID, deletes the tap devices vswitchd leaves
// behind, the veths and the namespaces the test made. Testbeds with
// vswitchd are serialized machine-wide through OVSLockFile, held until
// Cleanup. Missing packages (openvswitch-switch; iproute2 with vswitchd;
// ethtool and iputils-ping for AddNamespacePort and Ping),
// no root or no /dev/net/tun call Missing.
func StartOVS(t testing.TB, withVswitchd bool) *OVS {
	t.Helper()
	Integration(t)
	for _, c := range []string{"ovsdb-tool", "ovsdb-server", "ovs-vsctl"} {
		NeedCommand(t, c)
	}
	if _, err := os.Stat(ovsSchema); err != nil {
		Missing(t, "OVS schema "+ovsSchema+" missing (package openvswitch-common)")
	}
	if withVswitchd {
		NeedCommand(t, "ovs-vswitchd")
		NeedCommand(t, "ip")
		NeedRoot(t)
		if _, err := os.Stat("/dev/net/tun"); err != nil {
			Missing(t, "/dev/net/tun missing: the userspace datapath needs tap devices")
		}
		lockOVS(t)
	}
	dir := privateDir(t, "gwdovs") // unix socket paths (dir/<bridge>.snoop) must fit 107 bytes
	o := &OVS{
		Dir:      dir,
		DB:       filepath.Join(dir, "db.sock"),
		vswitchd: withVswitchd,
		procs:    map[string]*daemon{},
		netns:    map[string]string{},
		nsPorts:  map[string]int{},
		env: append(os.Environ(), "OVS_RUNDIR="+dir, "OVS_LOGDIR="+dir, "OVS_DBDIR="+dir,
			"OVS_SYSCONFDIR="+dir),
	}
	t.Cleanup(func() { o.stop(t) })
	if _, err := o.run("ovsdb-tool", "create", filepath.Join(dir, "conf.db"), ovsSchema); err != nil {
		t.Fatalf("ovs testbed: %v", err)
	}
	o.startOVSDB(t)
	o.Vsctl(t, "--no-wait", "init")
	if withVswitchd {
		o.startVswitchd(t)
	}
	return o
}

// lockOVS takes OVSLockFile (waiting for other test processes) until the
// test's cleanup, and refuses to run beside an ovs-vswitchd that is not
// ours (it would own the netdev datapath). A tap device ovs-netdev left by
// a killed run is deleted.
func lockOVS(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(OVSLockFile, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("ovs testbed: %v", err)
	}
	deadline := time.Now().Add(10 * time.Minute)
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			deadline = dl.Add(-30 * time.Second)
		}
	}
	for waited := false; ; waited = true {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			t.Fatalf("ovs testbed: lock %s: %v", OVSLockFile, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			t.Fatalf("ovs testbed: %s still held by another test process", OVSLockFile)
		}
		if !waited {
			t.Logf("ovs testbed: waiting for %s (another test process runs OVS)", OVSLockFile)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
	if pids := processesNamed("ovs-vswitchd"); len(pids) > 0 {
		Missing(t, fmt.Sprintf("an ovs-vswitchd not started by this testbed runs (pid %v): it owns the userspace datapath", pids))
	}
	if isTap("ovs-netdev") {
		ipQuiet("link", "del", "ovs-netdev")
	}
}

// processesNamed lists the PIDs whose command name is name.
func processesNamed(name string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err == nil && strings.TrimSpace(string(comm)) == name && !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func zombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // gone
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X'
}

// isTap reports whether a network device exists and is a tun/tap device:
// only those are deleted as vswitchd leftovers.
func isTap(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name + "/tun_flags")
	return err == nil
}

func ipQuiet(args ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	_ = exec.CommandContext(ctx, "ip", args...).Run()
}

// run runs one OVS or ip command in the testbed's environment.
func (o *OVS) run(name string, args ...string) (string, error) { return runEnv(o.env, name, args...) }

// spawn starts an OVS daemon as a child of the test process and waits
// until its socket at path accepts connections.
func (o *OVS) spawn(t testing.TB, name, path string, args ...string) {
	t.Helper()
	os.Remove(path)
	d := spawn(t, o.Dir, name, o.env, args...)
	o.mu.Lock()
	o.procs[name] = d
	o.mu.Unlock()
	d.waitReady(t, 15*time.Second, accepts(path), name+".log")
}

func (o *OVS) startOVSDB(t testing.TB) {
	t.Helper()
	d := o.Dir
	o.spawn(t, "ovsdb-server", o.DB, filepath.Join(d, "conf.db"), "--remote=punix:"+o.DB,
		"--pidfile="+filepath.Join(d, "ovsdb-server.pid"), "--unixctl="+filepath.Join(d, "ovsdb-server.ctl"),
		"--log-file="+filepath.Join(d, "ovsdb-server.log"), "--no-chdir", "-vconsole:off")
}

func (o *OVS) startVswitchd(t testing.TB) {
	t.Helper()
	d := o.Dir
	o.spawn(t, "ovs-vswitchd", filepath.Join(d, "ovs-vswitchd.ctl"), "unix:"+o.DB,
		"--pidfile="+filepath.Join(d, "ovs-vswitchd.pid"), "--unixctl="+filepath.Join(d, "ovs-vswitchd.ctl"),
		"--log-file="+filepath.Join(d, "ovs-vswitchd.log"), "--no-chdir", "-vconsole:off",
		// The dpif module warns every second about the userspace
		// datapath's missing kernel features; keep its errors only.
		"-vdpif:file:err")
	// A database change makes ovs-vsctl wait until this vswitchd has
	// applied the whole configuration (bridges and ports included).
	o.Vsctl(t, "set", "Open_vSwitch", ".", "external_ids:gwd-testbed-start="+strconv.FormatInt(time.Now().UnixNano(), 10))
}

// stopProc stops a daemon by its PID: SIGTERM, then SIGKILL after 5 s.
func (o *OVS) stopProc(name string) {
	o.mu.Lock()
	d := o.procs[name]
	delete(o.procs, name)
	o.mu.Unlock()
	if d != nil {
		d.stop()
	}
}

// internalPorts lists the Interface rows of type internal: the tap devices
// the userspace datapath makes for bridges and internal ports.
func (o *OVS) internalPorts() []string {
	out, err := o.run("ovs-vsctl", "--db=unix:"+o.DB, "--timeout=5", "--no-wait", "--bare",
		"--columns=name", "find", "Interface", "type=internal")
	if err != nil {
		return nil
	}
	return strings.Fields(out)
}

// stopVswitchd stops ovs-vswitchd and deletes the taps it leaves behind.
func (o *OVS) stopVswitchd() {
	taps := append(o.internalPorts(), "ovs-netdev")
	o.stopProc("ovs-vswitchd")
	for _, tap := range taps {
		if isTap(tap) {
			ipQuiet("link", "del", tap)
		}
	}
}

func (o *OVS) stop(t testing.TB) {
	if t.Failed() {
		for _, f := range []string{"ovs-vswitchd.log", "ovsdb-server.log"} {
			if s := o.tail(f, 30); s != "" {
				t.Logf("ovs testbed: last lines of %s:\n%s", f, s)
			}
		}
	}
	if o.vswitchd {
		o.stopVswitchd()
	}
	o.mu.Lock()
	veths, netns := o.veths, o.netns
	o.veths, o.netns = nil, map[string]string{}
	o.mu.Unlock()
	for _, v := range veths {
		ipQuiet("link", "del", v)
	}
	for _, ns := range netns {
		ipQuiet("netns", "del", ns)
	}
	o.stopProc("ovsdb-server")
}

// tail returns the last n lines of a file in the testbed directory.
func (o *OVS) tail(name string, n int) string { return tail(filepath.Join(o.Dir, name), n) }

// Vsctl runs ovs-vsctl against the testbed's database and returns its
// output without the trailing newline. Without vswitchd it does not wait
// for one (--no-wait). It fails the test on error.
func (o *OVS) Vsctl(t testing.TB, args ...string) string {
	t.Helper()
	pre := []string{"--db=unix:" + o.DB, "--timeout=30"}
	if !o.vswitchd {
		pre = append(pre, "--no-wait")
	}
	out, err := o.run("ovs-vsctl", append(pre, args...)...)
	if err != nil {
		t.Fatalf("ovs testbed: %v", err)
	}
	return strings.TrimSuffix(out, "\n")
}

// AddBridge adds a bridge on the userspace (netdev) datapath.
func (o *OVS) AddBridge(t testing.TB, name string) {
	t.Helper()
	o.Vsctl(t, "add-br", name, "--", "set", "Bridge", name, "datapath_type=netdev")
}

// Netns returns the real name of the namespace a test called ns in
// AddNamespacePort ("" when there is none).
func (o *OVS) Netns(ns string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.netns[ns]
}

// AddNamespacePort adds a veth pair: port joins bridge in the root
// namespace, its peer moves into namespace ns (created on first use, with a
// random suffix: see Netns) as eth0 (eth1, ... for further ports) with
// address addrCIDR, up, transmit checksum offload off (so that UDP and TCP
// cross the userspace datapath). Cleanup deletes both, and the namespace.
func (o *OVS) AddNamespacePort(t testing.TB, bridge, port, ns, addrCIDR string) {
	t.Helper()
	checkIfName(t, port)
	NeedCommand(t, "ip")
	NeedCommand(t, "ethtool")
	NeedRoot(t)
	o.mu.Lock()
	name, ok := o.netns[ns]
	if !ok {
		name = "gwd-" + ns + "-" + randSuffix(3)
	}
	n := o.nsPorts[ns]
	o.nsPorts[ns]++
	o.mu.Unlock()
	if !ok {
		if _, err := o.run("ip", "netns", "add", name); err != nil {
			Missing(t, "network namespaces not allowed: "+err.Error())
		}
		o.mu.Lock()
		o.netns[ns] = name
		o.mu.Unlock()
	}
	peer := "gwdp" + randSuffix(4)
	if _, err := o.run("ip", "link", "add", port, "type", "veth", "peer", "name", peer); err != nil {
		t.Fatalf("ovs testbed: %v", err)
	}
	o.mu.Lock()
	o.veths = append(o.veths, port)
	o.mu.Unlock()
	eth := "eth" + strconv.Itoa(n)
	for _, args := range [][]string{
		{"link", "set", peer, "netns", name},
		{"-n", name, "link", "set", peer, "name", eth},
		{"-n", name, "addr", "add", addrCIDR, "dev", eth},
		{"-n", name, "link", "set", eth, "up"},
		{"-n", name, "link", "set", "lo", "up"},
		{"link", "set", port, "up"},
		// The userspace datapath forwards what the veth hands it as is:
		// with checksum offload, UDP and TCP would arrive with partial
		// checksums and be dropped (ICMP alone would work).
		{"netns", "exec", name, "ethtool", "-K", eth, "tx", "off"},
	} {
		if _, err := o.run("ip", args...); err != nil {
			t.Fatalf("ovs testbed: %v", err)
		}
	}
	o.Vsctl(t, "add-port", bridge, port)
}

// Ping pings addr from namespace ns (the name given to AddNamespacePort)
// count times, one second per reply at most, and fails the test unless a
// reply came back.
func (o *OVS) Ping(t testing.TB, ns, addr string, count int) {
	t.Helper()
	name := o.Netns(ns)
	if name == "" {
		t.Fatalf("ovs testbed: no namespace %q", ns)
	}
	NeedCommand(t, "ping")
	out, err := o.run("ip", "netns", "exec", name, "ping", "-n", "-q", "-c", strconv.Itoa(count),
		"-i", "0.2", "-W", "1", addr)
	if err != nil {
		t.Fatalf("ovs testbed: ping %s from %s: %v\n%s", addr, ns, err, out)
	}
}

// InNetns runs f on an OS thread inside namespace ns (the name given to
// AddNamespacePort): sockets f opens live in that namespace and stay usable
// from any goroutine afterwards. f must not call t.Fatal (it runs on
// another goroutine); its error fails the test.
func (o *OVS) InNetns(t testing.TB, ns string, f func() error) {
	t.Helper()
	name := o.Netns(ns)
	if name == "" {
		t.Fatalf("ovs testbed: no namespace %q", ns)
	}
	errc := make(chan error, 1)
	go func() { errc <- inNetns(name, f) }()
	if err := <-errc; err != nil {
		t.Fatalf("ovs testbed: in namespace %s: %v", ns, err)
	}
}

func inNetns(name string, f func() error) error {
	runtime.LockOSThread() // the namespace belongs to this thread only
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open("/var/run/netns/" + name)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns: %w", err)
	}
	ferr := f()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: it ends with this goroutine instead of
		// running other goroutines in the wrong namespace.
		return errors.Join(ferr, fmt.Errorf("setns back: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// RestartVswitchd stops ovs-vswitchd, deletes the taps it leaves behind and
// starts it again on the same database.
func (o *OVS) RestartVswitchd(t testing.TB) {
	t.Helper()
	if !o.vswitchd {
		t.Fatalf("ovs testbed: started without ovs-vswitchd")
	}
	o.stopVswitchd()
	o.startVswitchd(t)
}

// RestartOVSDB stops ovsdb-server (clients see the connection drop) and
// starts it again on the same database file and socket.
func (o *OVS) RestartOVSDB(t testing.TB) {
	t.Helper()
	o.stopProc("ovsdb-server")
	o.startOVSDB(t)
}

func randSuffix(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Signal sends sig to one of the testbed's daemons, by its PID
// ("ovs-vswitchd" or "ovsdb-server"): SIGSTOP and SIGCONT pause and resume
// it, to order what other processes see.
func (o *OVS) Signal(t testing.TB, name string, sig syscall.Signal) {
	t.Helper()
	o.mu.Lock()
	d := o.procs[name]
	o.mu.Unlock()
	if d == nil {
		t.Fatalf("ovs testbed: no %s running", name)
	}
	if err := syscall.Kill(d.pid, sig); err != nil {
		t.Fatalf("ovs testbed: signal %v to %s (pid %d): %v", sig, name, d.pid, err)
	}
}

// PingFor pings addr from namespace ns every 0.2 s for about d (a bounded
// count) in the background; the returned function waits for it and says
// how many requests went out and how many replies came back.
func (o *OVS) PingFor(t testing.TB, ns, addr string, d time.Duration) (wait func() (sent, received int)) {
	t.Helper()
	name := o.Netns(ns)
	if name == "" {
		t.Fatalf("ovs testbed: no namespace %q", ns)
	}
	NeedCommand(t, "ping")
	count := max(1, int(d/(200*time.Millisecond)))
	cmd := exec.Command("ip", "netns", "exec", name, "ping", "-n", "-q", "-c", strconv.Itoa(count), "-i", "0.2", "-W", "1", addr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("ovs testbed: ping: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	return func() (int, int) {
		<-done
		m := pingSummary.FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("ovs testbed: no ping summary in:\n%s", out.String())
		}
		sent, _ := strconv.Atoi(m[1])
		received, _ := strconv.Atoi(m[2])
		return sent, received
	}
}

var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) (?:packets )?received`)
