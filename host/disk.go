package host

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"gwd/internal/textscan"
	"gwd/sflow"
)

// statfser is statfs(2), behind an interface so tests can fake the sizes of
// the filesystems in a fixture's Proc/mounts.
type statfser interface {
	Statfs(path string, st *unix.Statfs_t) error
}

type sysStatfs struct{}

func (sysStatfs) Statfs(path string, st *unix.Statfs_t) error { return unix.Statfs(path, st) }

const sectorBytes = 512 // /proc/diskstats counts 512-byte sectors whatever the device's sector size

// readWholeDisks lists the whole disks: the Sys/block entries backed by a
// device (Sys/block/<name>/device exists). That leaves out partitions
// (they live below their disk), and loop, ram, zram, device-mapper and md
// devices, whose I/O is already counted on the disks beneath them.
func (h *Host) readWholeDisks() (map[string]struct{}, error) {
	ents, err := os.ReadDir(h.sys + "block")
	if err != nil {
		return nil, fmt.Errorf("list whole disks: %w", err)
	}
	disks := make(map[string]struct{}, len(ents))
	for _, e := range ents {
		if _, err := os.Lstat(h.sys + "block/" + e.Name() + "/device"); err != nil {
			continue
		}
		// sysfs spells a '/' in a block device name as '!' (cciss!c0d0).
		disks[strings.ReplaceAll(e.Name(), "!", "/")] = struct{}{}
	}
	return disks, nil
}

// pollDisk fills host_disk_io:
//
//	disk_total, disk_free  sums over the local, read-write, block-device
//	                       filesystems of Proc/mounts (device /dev/..., each
//	                       device once; not nfs/cifs/autofs/...): statfs
//	                       blocks and blocks available to users, in bytes
//	part_max_used          the highest used/(used+available) of those, in
//	                       hundredths of a percent (df's Use%); -1 when none
//	reads ... write_time   Proc/diskstats summed over the whole disks
//	                       (readWholeDisks): reads completed, sectors read
//	                       * 512, ms reading, writes completed, sectors
//	                       written * 512, ms writing (32-bit fields: low bits)
func (p *hostPoller) pollDisk(s *snapshot) error {
	h := p.h
	d := &p.disk
	*d = sflow.HostDiskIO{PartMaxUsed: -1}
	if s.disks == nil {
		err := s.diskErr
		if err == nil {
			err = errors.New("no whole-disk list")
		}
		return fmt.Errorf("host_disk_io: %w", err)
	}
	b, err := p.rd.readKept(h.proc, "diskstats", false)
	if err != nil {
		return fmt.Errorf("host_disk_io: %w", err)
	}
	var reads, rdSect, rdMS, writes, wrSect, wrMS uint64
	for rest := b; len(rest) > 0; {
		var line, name []byte
		line, rest = textscan.NextLine(rest)
		_, line = textscan.NextField(line) // major
		_, line = textscan.NextField(line) // minor
		name, line = textscan.NextField(line)
		if _, ok := s.disks[string(name)]; !ok {
			continue
		}
		var v [8]uint64
		for i := range v {
			var f []byte
			f, line = textscan.NextField(line)
			v[i], _ = parseUint(f)
		}
		reads += v[0]
		rdSect += v[2]
		rdMS += v[3]
		writes += v[4]
		wrSect += v[6]
		wrMS += v[7]
	}
	d.Reads, d.BytesRead, d.ReadTime = uint32(reads), rdSect*sectorBytes, uint32(rdMS)
	d.Writes, d.BytesWritten, d.WriteTime = uint32(writes), wrSect*sectorBytes, uint32(wrMS)

	b, err = p.rd.readKept(h.proc, "mounts", false)
	if err != nil {
		return fmt.Errorf("host_disk_io: %w", err)
	}
	p.seenDevs = p.seenDevs[:0]
	st := &p.statfsBuf // a local would escape through the interface call
	for rest := b; len(rest) > 0; {
		var line, dev, mnt, fstype, opts []byte
		line, rest = textscan.NextLine(rest)
		dev, line = textscan.NextField(line)
		mnt, line = textscan.NextField(line)
		fstype, line = textscan.NextField(line)
		opts, _ = textscan.NextField(line)
		if !localRW(dev, fstype, opts) || p.seen(dev) {
			continue
		}
		p.seenDevs = append(p.seenDevs, dev)
		if err := h.statfs.Statfs(p.mountPath(mnt), st); err != nil || st.Blocks == 0 {
			continue // unreachable or pseudo: not counted, not an error
		}
		bs := uint64(st.Frsize)
		if bs == 0 {
			bs = uint64(st.Bsize)
		}
		total, free, avail := st.Blocks*bs, st.Bfree*bs, st.Bavail*bs
		d.DiskTotal += total
		d.DiskFree += avail
		used := total - min(free, total)
		if used+avail > 0 {
			if pct := int32(used * 10000 / (used + avail)); pct > d.PartMaxUsed {
				d.PartMaxUsed = pct
			}
		}
	}
	return nil
}

func (p *hostPoller) seen(dev []byte) bool {
	for _, s := range p.seenDevs {
		if string(s) == string(dev) {
			return true
		}
	}
	return false
}

// mountPath maps a Proc/mounts mount point (octal escapes and all) to the
// path to statfs under Config.Root, caching the strings.
func (p *hostPoller) mountPath(raw []byte) string {
	if s, ok := p.mountPaths[string(raw)]; ok {
		return s
	}
	if len(p.mountPaths) > 4096 {
		clear(p.mountPaths)
	}
	s := unescapeMount(string(raw))
	if root := p.h.rootDir; root != "/" {
		s = root + s
	}
	p.mountPaths[string(raw)] = s
	return s
}

// unescapeMount undoes the kernel's octal escapes (\040 space, \011 tab,
// \012 newline, \134 backslash) in a Proc/mounts field.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// localRW says whether a Proc/mounts entry is a local, read-write
// filesystem on a block device (the rules of hsflowd and ganglia).
func localRW(dev, fstype, opts []byte) bool {
	if !hasPrefix(dev, "/dev/") && !hasPrefix(dev, "/dev2/") && !hasPrefix(dev, "ubi:") {
		return false
	}
	if string(opts) == "ro" || hasPrefix(opts, "ro,") {
		return false
	}
	if !hasPrefix(dev, "ubi:") {
		for _, c := range dev {
			if c == ':' {
				return false // host:/export
			}
		}
	}
	switch {
	case hasPrefix(fstype, "nfs"), hasPrefix(fstype, "smb"), string(fstype) == "cifs",
		string(fstype) == "autofs", hasPrefix(fstype, "gfs"), string(fstype) == "none",
		string(fstype) == "ceph", string(fstype) == "glusterfs", string(fstype) == "lustre":
		return false
	}
	return true
}
