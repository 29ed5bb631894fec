package kvm

import (
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"gwd/host"
)

// maxXML bounds the domain XML gwd parses; libvirt's own limit on an RPC
// string is 4 MiB, so a bigger document is not a domain description.
const maxXML = 4 << 20

// Bounds on what one domain description may list: beyond them the rest is
// ignored (a real domain has a handful of each).
const (
	maxDisks   = 256
	maxNICs    = 256
	maxHostdev = 64
)

// domainSpec is what gwd needs from a domain's XML description.
type domainSpec struct {
	Name        string
	UUID        [16]byte
	MachineType uint32 // sFlow machine_type of <os><type arch=...>
	OSName      uint32 // sFlow os_name, from libosinfo metadata (0 unknown)
	OSRelease   string // from libosinfo metadata ("22.04"), may be ""
	Disks       []string
	NICs        []nic
	PCI         []string // passed-through PCI devices, 0000:bb:dd.f
}

// nic is one <interface> of a domain.
type nic struct {
	Dev     string // host-side device (<target dev='vnet0'/>), may be ""
	MAC     string // the guest's MAC, lower case aa:bb:cc:dd:ee:ff, may be ""
	IfaceID string // <virtualport><parameters interfaceid=.../> (OpenStack, AHV), lower case
}

// The XML shapes read (a small subset of libvirt's domain format).
type xmlDomain struct {
	XMLName xml.Name `xml:"domain"`
	Name    string   `xml:"name"`
	UUID    string   `xml:"uuid"`
	OS      struct {
		Type struct {
			Arch string `xml:"arch,attr"`
		} `xml:"type"`
	} `xml:"os"`
	Metadata struct {
		OSInfo struct {
			OS struct {
				ID string `xml:"id,attr"`
			} `xml:"http://libosinfo.org/xmlns/libvirt/domain/1.0 os"`
		} `xml:"http://libosinfo.org/xmlns/libvirt/domain/1.0 libosinfo"`
	} `xml:"metadata"`
	Devices struct {
		Disks []struct {
			Device string    `xml:"device,attr"`
			Target xmlTarget `xml:"target"`
		} `xml:"disk"`
		Interfaces []struct {
			MAC struct {
				Address string `xml:"address,attr"`
			} `xml:"mac"`
			Target      xmlTarget `xml:"target"`
			VirtualPort struct {
				Parameters struct {
					InterfaceID string `xml:"interfaceid,attr"`
				} `xml:"parameters"`
			} `xml:"virtualport"`
		} `xml:"interface"`
		Hostdevs []struct {
			Mode   string `xml:"mode,attr"`
			Type   string `xml:"type,attr"`
			Source struct {
				Address struct {
					Domain   string `xml:"domain,attr"`
					Bus      string `xml:"bus,attr"`
					Slot     string `xml:"slot,attr"`
					Function string `xml:"function,attr"`
				} `xml:"address"`
			} `xml:"source"`
		} `xml:"hostdev"`
	} `xml:"devices"`
}

type xmlTarget struct {
	Dev string `xml:"dev,attr"`
}

// parseDomainXML reads a domain's XML description. A document that is not
// a <domain> with a valid UUID is an error; devices that make no sense (a
// hostdev with a bad PCI address, a bad MAC) are left out.
func parseDomainXML(b []byte) (domainSpec, error) {
	var s domainSpec
	if len(b) > maxXML {
		return s, fmt.Errorf("domain XML of %d bytes is over the %d-byte limit", len(b), maxXML)
	}
	var x xmlDomain
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	if err := d.Decode(&x); err != nil {
		return s, fmt.Errorf("domain XML: %w", err)
	}
	u, ok := parseUUID(x.UUID)
	if !ok {
		return s, fmt.Errorf("domain XML: bad or missing <uuid> %q", clip(x.UUID))
	}
	s.Name, s.UUID = clip(strings.TrimSpace(x.Name)), u
	if x.OS.Type.Arch != "" {
		s.MachineType = host.MachineType(strings.ToLower(x.OS.Type.Arch))
	}
	s.OSName, s.OSRelease = osOf(x.Metadata.OSInfo.OS.ID)
	for _, dk := range x.Devices.Disks {
		if len(s.Disks) == maxDisks {
			break
		}
		if dk.Device != "" && dk.Device != "disk" || !validDev(dk.Target.Dev) {
			continue // CD-ROMs and floppies are not the VM's storage
		}
		s.Disks = append(s.Disks, dk.Target.Dev)
	}
	for _, in := range x.Devices.Interfaces {
		if len(s.NICs) == maxNICs {
			break
		}
		n := nic{IfaceID: strings.ToLower(clip(strings.TrimSpace(in.VirtualPort.Parameters.InterfaceID)))}
		if validDev(in.Target.Dev) {
			n.Dev = in.Target.Dev
		}
		if m, err := net.ParseMAC(in.MAC.Address); err == nil && len(m) == 6 {
			n.MAC = m.String()
		}
		if n != (nic{}) {
			s.NICs = append(s.NICs, n)
		}
	}
	for _, h := range x.Devices.Hostdevs {
		if len(s.PCI) == maxHostdev {
			break
		}
		if h.Type != "pci" || h.Mode != "" && h.Mode != "subsystem" {
			continue
		}
		a := h.Source.Address
		if pci, ok := pciAddress(a.Domain, a.Bus, a.Slot, a.Function); ok {
			s.PCI = append(s.PCI, pci)
		}
	}
	return s, nil
}

// validDev accepts a Linux interface or block device name.
func validDev(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c == '/' || c > '~' {
			return false
		}
	}
	return true
}

// clip bounds a string taken from the XML (host_descr's hostname is at most
// 64 bytes on the wire anyway).
func clip(s string) string {
	if len(s) > 256 {
		return s[:256]
	}
	return s
}

// pciAddress writes a libvirt PCI address (attributes in hex, "0x3b", or
// decimal) as 0000:3b:00.0.
func pciAddress(domain, bus, slot, fn string) (string, bool) {
	var v [4]uint64
	limits := [4]uint64{0xffff, 0xff, 0x1f, 0x7}
	for i, s := range []string{domain, bus, slot, fn} {
		if s == "" && i == 0 {
			continue // domain 0 when absent
		}
		n, err := strconv.ParseUint(s, 0, 32)
		if err != nil || n > limits[i] {
			return "", false
		}
		v[i] = n
	}
	return fmt.Sprintf("%04x:%02x:%02x.%x", v[0], v[1], v[2], v[3]), true
}

// parseUUID reads a UUID with or without dashes.
func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	h := strings.ReplaceAll(strings.TrimSpace(s), "-", "")
	if len(h) != 32 {
		return u, false
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, false
	}
	return u, true
}

// formatUUID writes u in the canonical 8-4-4-4-12 form, lower case.
func formatUUID(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// sFlow os_name values (host_descr).
const (
	osUnknown = 0
	osLinux   = 2
	osWindows = 3
	osDarwin  = 4
	osFreeBSD = 8
	osNetBSD  = 9
	osOpenBSD = 10
	osSolaris = 12
)

// osOf maps a libosinfo OS id (virt-install and virt-manager record it in
// the domain's metadata, such as "http://ubuntu.com/ubuntu/22.04") to
// os_name and os_release. Ids of Linux distributions are many; an id that
// is none of the other systems and names a known distribution vendor is
// Linux.
func osOf(id string) (uint32, string) {
	id = strings.ToLower(strings.TrimSpace(id))
	if id == "" || len(id) > 256 {
		return osUnknown, ""
	}
	rel := ""
	if i := strings.LastIndexByte(id, '/'); i >= 0 && i+1 < len(id) && id[i+1] >= '0' && id[i+1] <= '9' {
		rel = id[i+1:]
	}
	host := strings.TrimPrefix(strings.TrimPrefix(id, "http://"), "https://")
	host, _, _ = strings.Cut(host, "/")
	switch {
	case strings.Contains(id, "microsoft.com/win"):
		return osWindows, rel
	case strings.Contains(host, "apple.com"):
		return osDarwin, rel
	case strings.Contains(host, "freebsd.org"):
		return osFreeBSD, rel
	case strings.Contains(host, "netbsd.org"):
		return osNetBSD, rel
	case strings.Contains(host, "openbsd.org"):
		return osOpenBSD, rel
	case strings.Contains(id, "solaris"):
		return osSolaris, rel
	}
	for _, v := range []string{"ubuntu.com", "debian.org", "fedoraproject.org", "redhat.com", "centos.org",
		"suse.com", "opensuse.org", "alpinelinux.org", "archlinux.org", "rockylinux.org", "almalinux.org",
		"oracle.com", "gentoo.org", "mageia.org", "mandriva.com", "slackware.com", "libosinfo.org/linux", "nixos.org"} {
		if strings.Contains(id, v) {
			return osLinux, rel
		}
	}
	return osUnknown, ""
}

// errNotDomain is returned by parseDomainXML's callers for an XML that
// names another domain than the one asked for.
var errNotDomain = errors.New("domain XML names another domain")
