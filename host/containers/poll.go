package containers

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"gwd/agent"
	"gwd/sflow"
)

// virt_cpu states (libvirt's virDomainState, which sFlow uses).
const (
	stateRunning = 1
	statePaused  = 3
	stateShutoff = 5
)

// host_descr bounds (str<64>, str<32>) and os_name linux.
const (
	maxHostname  = 64
	maxOSRelease = 32
	osLinux      = 2
)

// maxFileBytes bounds one cgroup or procfs file read; net/dev of a
// namespace with thousands of interfaces stays under it.
const maxFileBytes = 1 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// readFile reads path into *buf (reused), at most maxFileBytes.
func readFile(path string, buf *[]byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := (*buf)[:0]
	for {
		if len(b) == cap(b) {
			if len(b) >= maxFileBytes {
				return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFileBytes)
			}
			b = append(b, 0)[:len(b)]
		}
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*buf = b
			return nil, err
		}
	}
	*buf = b
	return b, nil
}

// container is one container's poller.
type container struct {
	f    found
	w    *Watcher
	dsrc agent.DataSource

	registered bool // owned by the refresh loop
	paths      cgroupPaths

	mu    sync.Mutex // guards name, and the records between polls
	name  string
	named bool // name came from the runtime (not the short ID)

	descr  sflow.HostDescr
	parent sflow.HostParent
	cpu    sflow.VirtCPU
	mem    sflow.VirtMemory
	disk   sflow.VirtDiskIO
	net    sflow.VirtNetIO
}

// cgroupPaths are the files a poll reads, joined once.
type cgroupPaths struct {
	cpuStat, events, cpuMax, memCurrent, memMax, ioStat, procs string
}

func pathsOf(dir string) cgroupPaths {
	j := func(n string) string { return filepath.Join(dir, n) }
	return cgroupPaths{j("cpu.stat"), j("cgroup.events"), j("cpu.max"), j("memory.current"), j("memory.max"), j("io.stat"), j("cgroup.procs")}
}

// entityUUID is host_descr's uuid: the first 16 bytes of a 64-hex-digit
// container ID (so its first 12 hex digits are the short ID `docker ps`
// shows), else the first 16 bytes of SHA-256 of the entity key.
func entityUUID(f found) [16]byte {
	var u [16]byte
	if isHexID(f.id) {
		hex.Decode(u[:], []byte(f.id[:32]))
		return u
	}
	s := sha256.Sum256([]byte("gwd container " + f.key))
	copy(u[:], s[:16])
	return u
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (c *container) setName(name string, named bool) {
	c.mu.Lock()
	c.name, c.named = truncate(name, maxHostname), named
	c.mu.Unlock()
}

// Poll implements agent.Poller: the container's records, read now. A
// container whose cgroup has gone (between two discovery scans) gives no
// records and no error; discovery unregisters it.
func (c *container) Poll(recs []sflow.Record) ([]sflow.Record, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.w.host.Load()
	dir, ps := c.f.dir, &c.paths

	b, err := readFile(ps.cpuStat, bp)
	if errors.Is(err, fs.ErrNotExist) {
		return recs, nil
	}
	if err != nil {
		return recs, fmt.Errorf("container %s: %w", c.name, err)
	}
	usec, err := parseCPUStat(b)
	if err != nil {
		return recs, fmt.Errorf("container %s: %s: %w", c.name, ps.cpuStat, err)
	}
	var errs []error
	fail := func(file string, err error) {
		errs = append(errs, fmt.Errorf("%s: %w", filepath.Join(dir, file), err))
	}

	c.cpu = sflow.VirtCPU{State: stateRunning, CPUTime: uint32(usec / 1000), NrVirtCPU: h.cpus}
	if b, err := readFile(ps.events, bp); err == nil {
		if v, ok := keyValue(b, "frozen"); ok && v == 1 {
			c.cpu.State = statePaused
		} else if v, ok := keyValue(b, "populated"); ok && v == 0 {
			c.cpu.State = stateShutoff
		}
	}
	if b, err := readFile(ps.cpuMax, bp); err == nil {
		if n, err := parseCPUMax(b); err != nil {
			fail("cpu.max", err)
		} else if n > 0 && n < h.cpus {
			c.cpu.NrVirtCPU = n
		}
	}

	c.mem = sflow.VirtMemory{MaxMemory: h.memory}
	if b, err := readFile(ps.memCurrent, bp); err == nil {
		if v, _, err := parseMemValue(b); err != nil {
			fail("memory.current", err)
		} else {
			c.mem.Memory = v
		}
	}
	if b, err := readFile(ps.memMax, bp); err == nil {
		if v, limited, err := parseMemValue(b); err != nil {
			fail("memory.max", err)
		} else if limited && (v < h.memory || h.memory == 0) {
			c.mem.MaxMemory = v
		}
	}

	c.disk = sflow.VirtDiskIO{}
	if b, err := readFile(ps.ioStat, bp); err == nil {
		if t, err := parseIOStat(b); err != nil {
			fail("io.stat", err)
		} else {
			c.disk.RdBytes, c.disk.WrBytes = t.rbytes, t.wbytes
			c.disk.RdReq, c.disk.WrReq = uint32(t.rios), uint32(t.wios)
		}
	}

	c.descr = sflow.HostDescr{Hostname: append(c.descr.Hostname[:0], c.name...), UUID: entityUUID(c.f),
		MachineType: h.machineType, OSName: osLinux, OSRelease: append(c.descr.OSRelease[:0], h.osRelease...)}
	c.parent = sflow.HostParent{ContainerType: agent.HostSource.Type, ContainerIndex: agent.HostSource.Index}
	recs = append(recs, &c.descr, &c.parent, &c.cpu, &c.mem, &c.disk)

	if ok, err := c.readNet(h, bp); err != nil {
		errs = append(errs, err)
	} else if ok {
		recs = append(recs, &c.net)
	}
	if len(errs) > 0 {
		return recs, fmt.Errorf("container %s: %w", c.name, errors.Join(errs...))
	}
	return recs, nil
}

// readNet fills c.net from the network namespace of the first process in
// the cgroup, read through <proc>/<pid>/net/dev (no setns). It returns
// false, without error, when the cgroup has no process or the process is
// in the host's network namespace (a host-network container: its traffic
// is the host's, already on the interfaces' samples).
func (c *container) readNet(h *hostInfo, bp *[]byte) (bool, error) {
	b, err := readFile(c.paths.procs, bp)
	if err != nil {
		return false, nil
	}
	pid, err := firstPID(b)
	if err != nil {
		return false, fmt.Errorf("%s: %w", c.paths.procs, err)
	}
	if pid == 0 {
		return false, nil
	}
	pdir := filepath.Join(c.w.cfg.ProcRoot, strconv.Itoa(pid))
	if h.netns != "" {
		if ns, err := os.Readlink(filepath.Join(pdir, "ns", "net")); err == nil && ns == h.netns {
			return false, nil
		}
	}
	b, err = readFile(filepath.Join(pdir, "net", "dev"), bp)
	if err != nil {
		return false, nil // the process just left
	}
	t, err := parseNetDev(b)
	if err != nil {
		return false, fmt.Errorf("%s: %w", filepath.Join(pdir, "net", "dev"), err)
	}
	c.net = sflow.VirtNetIO{
		RxBytes: t.rxBytes, RxPackets: uint32(t.rxPackets), RxErrs: uint32(t.rxErrs), RxDrop: uint32(t.rxDrop),
		TxBytes: t.txBytes, TxPackets: uint32(t.txPackets), TxErrs: uint32(t.txErrs), TxDrop: uint32(t.txDrop),
	}
	return true, nil
}
