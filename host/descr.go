package host

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"gwd/internal/textscan"
	"gwd/sflow"
)

// host_descr enumerations (sflow_host.txt).
const (
	machineOther   = 1
	machineX86     = 2
	machineX86_64  = 3
	machineIA64    = 4
	machineSPARC   = 5
	machineAlpha   = 6
	machinePowerPC = 7
	machineM68K    = 8
	machineMIPS    = 9
	machineARM     = 10
	machineHPPA    = 11
	machineS390    = 12
	osLinux        = 2
	maxHostname    = 64 // str<64>
	maxOSRelease   = 32 // str<32>
)

// descrInfo is what host_descr carries that does not change while the
// process runs.
type descrInfo struct {
	uuid        [16]byte
	uuidSource  string
	machineType uint32
}

func (h *Host) loadDescr() descrInfo {
	d := descrInfo{machineType: h.machineType()}
	d.uuid, d.uuidSource = h.hostUUID()
	return d
}

// machineType maps the kernel's machine name (Proc/sys/kernel/arch, the
// `uname -m` string) to the host_descr machine_type enum; without that file
// it uses the architecture gwd was built for.
func (h *Host) machineType() uint32 {
	var rd fileReader
	if b, err := rd.read(h.proc, "sys/kernel/arch"); err == nil {
		if m := textscan.TrimSpace(b); len(m) > 0 {
			return MachineType(string(m))
		}
	}
	return MachineType(runtime.GOARCH)
}

// MachineType maps an architecture name to host_descr's machine_type, as
// the kernel (uname -m), libvirt (<type arch=...>) or Go (GOARCH) spells
// it; machine_type other (1) when it is none of sFlow's.
func MachineType(m string) uint32 {
	switch {
	case m == "x86_64" || m == "amd64":
		return machineX86_64
	case m == "i386" || m == "i486" || m == "i586" || m == "i686" || m == "x86" || m == "386":
		return machineX86
	case m == "ia64":
		return machineIA64
	case strings.HasPrefix(m, "sparc"):
		return machineSPARC
	case m == "alpha":
		return machineAlpha
	case strings.HasPrefix(m, "ppc") || strings.HasPrefix(m, "powerpc"):
		return machinePowerPC
	case m == "m68k":
		return machineM68K
	case strings.HasPrefix(m, "mips"):
		return machineMIPS
	case strings.HasPrefix(m, "arm") || m == "aarch64" || m == "arm64":
		return machineARM
	case strings.HasPrefix(m, "parisc") || m == "hppa":
		return machineHPPA
	case strings.HasPrefix(m, "s390"):
		return machineS390
	}
	return machineOther
}

// hostUUID picks the host UUID, first that works:
//  1. Etc/machine-id (32 hex digits, systemd's machine id),
//  2. Sys/class/dmi/id/product_uuid (the SMBIOS system UUID; root only),
//  3. a random UUID persisted earlier in StateDir/uuid,
//  4. a new random (version 4) UUID, persisted to StateDir/uuid. If it
//     cannot be persisted it is logged once and kept for the process
//     lifetime (a restart then gets another one: still never a constant).
func (h *Host) hostUUID() ([16]byte, string) {
	if b, err := os.ReadFile(h.etc + "machine-id"); err == nil {
		if u, ok := parseUUID(string(b)); ok {
			return u, "machine-id"
		}
	}
	if b, err := os.ReadFile(h.sys + "class/dmi/id/product_uuid"); err == nil {
		if u, ok := parseUUID(string(b)); ok {
			return u, "dmi"
		}
	}
	state := filepath.Join(h.cfg.StateDir, "uuid")
	if b, err := os.ReadFile(state); err == nil {
		if u, ok := parseUUID(string(b)); ok {
			return u, "state"
		}
		h.log.Warn("ignoring malformed persisted host uuid", "path", state)
	}
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		// crypto/rand does not fail on Linux; keep the process alive anyway.
		panic(fmt.Sprintf("host: crypto/rand: %v", err))
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	if err := persistUUID(h.cfg.StateDir, state, u); err != nil {
		h.log.Warn("cannot persist the random host uuid; it will change on restart", "path", state, "err", err)
		return u, "random"
	}
	h.log.Info("created a random host uuid (no machine-id or DMI uuid)", "path", state)
	return u, "random"
}

func persistUUID(dir, path string, u [16]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".uuid-*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	_, werr := tmp.WriteString(formatUUID(u) + "\n")
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("rename to %s: %w", path, err)
	}
	return nil
}

// parseUUID accepts 32 hex digits with or without the four dashes; it
// rejects the all-zero and all-ones values some firmware ships.
func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	s = strings.TrimSpace(s)
	if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
		s = s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	}
	if len(s) != 32 {
		return u, false
	}
	if _, err := hex.Decode(u[:], []byte(s)); err != nil {
		return u, false
	}
	if u == ([16]byte{}) || u == [16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff} {
		return u, false
	}
	return u, true
}

func formatUUID(u [16]byte) string {
	x := hex.EncodeToString(u[:])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// pollDescr fills host_descr: hostname fresh every poll, os_release once.
func (p *hostPoller) pollDescr() error {
	h := p.h
	d := &p.descr
	b, err := p.rd.readKept(h.proc, "sys/kernel/hostname", true)
	if err != nil {
		return fmt.Errorf("host_descr: %w", err)
	}
	b = textscan.TrimSpace(b)
	if len(b) > maxHostname {
		b = b[:maxHostname]
	}
	d.Hostname = append(d.Hostname[:0], b...)
	if len(d.OSRelease) == 0 {
		b, err := p.rd.readKept(h.proc, "sys/kernel/osrelease", true)
		if err != nil {
			return fmt.Errorf("host_descr: %w", err)
		}
		b = textscan.TrimSpace(b)
		if len(b) > maxOSRelease {
			b = b[:maxOSRelease]
		}
		d.OSRelease = append(d.OSRelease[:0], b...)
	}
	d.UUID = h.descr.uuid
	d.MachineType = h.descr.machineType
	d.OSName = osLinux
	d.Layout = sflow.HostDescrLayoutCurrent
	return nil
}
