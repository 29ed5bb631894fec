package testbed

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Netns is a network namespace of the test's own, with loopback up. It is
// deleted, with the interfaces in it, when the test ends.
type Netns struct {
	Name string // for `ip netns exec Name ...` and /var/run/netns/Name
}

// NewNetns creates a namespace with a random name. Without root or ip, or
// where namespaces cannot be made, it calls Missing.
func NewNetns(t testing.TB) *Netns {
	t.Helper()
	Integration(t)
	NeedRoot(t)
	NeedCommand(t, "ip")
	n := &Netns{Name: "gwdt-" + randSuffix(4)}
	if _, err := runEnv(nil, "ip", "netns", "add", n.Name); err != nil {
		Missing(t, "cannot create a network namespace: "+err.Error())
	}
	t.Cleanup(func() { ipQuiet("netns", "del", n.Name) })
	n.IP(t, "link", "set", "lo", "up")
	return n
}

// IP runs `ip -n Name args...` and returns its output, failing the test on
// an error.
func (n *Netns) IP(t testing.TB, args ...string) string {
	t.Helper()
	return mustRun(t, "ip", append([]string{"-n", n.Name}, args...)...)
}

// Exec runs a command inside the namespace to its end and returns its
// output, failing the test on an error.
func (n *Netns) Exec(t testing.TB, args ...string) string {
	t.Helper()
	return mustRun(t, "ip", append([]string{"netns", "exec", n.Name}, args...)...)
}

// Command returns a command that runs name inside the namespace (for one
// that keeps running, such as an agent under test); the caller starts and
// stops it.
func (n *Netns) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Veth creates a veth pair a <-> b inside the namespace, both ends up.
func (n *Netns) Veth(t testing.TB, a, b string) {
	t.Helper()
	checkIfName(t, a, b)
	n.IP(t, "link", "add", a, "type", "veth", "peer", "name", b)
	n.IP(t, "link", "set", a, "up")
	n.IP(t, "link", "set", b, "up")
}

// VethTo creates a veth pair from local in this namespace to remote in
// namespace peer, both ends up.
func (n *Netns) VethTo(t testing.TB, local string, peer *Netns, remote string) {
	t.Helper()
	checkIfName(t, local, remote)
	mustRun(t, "ip", "link", "add", local, "netns", n.Name, "type", "veth", "peer", "name", remote, "netns", peer.Name)
	n.IP(t, "link", "set", local, "up")
	peer.IP(t, "link", "set", remote, "up")
}

// IfIndex returns the ifIndex of interface name in the namespace.
func (n *Netns) IfIndex(t testing.TB, name string) uint32 {
	t.Helper()
	out := n.IP(t, "-o", "link", "show", name)
	i, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(out, ":", 2)[0]))
	if err != nil {
		t.Fatalf("testbed: ifindex of %s from %q: %v", name, out, err)
	}
	return uint32(i)
}

// Do runs f on an OS thread inside the namespace: sockets f opens live in
// it and stay usable from any goroutine afterwards. f must not call
// t.Fatal (it runs on another goroutine); its error fails the test.
func (n *Netns) Do(t testing.TB, f func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- inNetns(n.Name, f) }()
	if err := <-errc; err != nil {
		t.Fatalf("testbed: in namespace %s: %v", n.Name, err)
	}
}

func checkIfName(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if len(name) > 15 {
			t.Fatalf("testbed: interface name %q longer than 15 bytes", name)
		}
	}
}

func mustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := runEnv(nil, name, args...)
	if err != nil {
		t.Fatalf("testbed: %v", err)
	}
	return out
}
