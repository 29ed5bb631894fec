package kvm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// machineX86_64 is host_descr's machine_type for x86_64, written out in the
// tests so that they check the value on the wire, not the code's mapping.
const machineX86_64 = 3

func mustUUID(t testing.TB, s string) [16]byte {
	t.Helper()
	u, ok := parseUUID(s)
	if !ok {
		t.Fatalf("bad UUID %q", s)
	}
	return u
}

func TestParseDomainXML(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "ahv-domain.xml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseDomainXML(b)
	if err != nil {
		t.Fatal(err)
	}
	want := domainSpec{
		Name:        "db-primary",
		UUID:        mustUUID(t, "0f3b8e2a-5c71-4d9e-a2b4-9c8d7e6f5a41"),
		MachineType: machineX86_64,
		OSName:      osLinux,
		OSRelease:   "22.04",
		Disks:       []string{"sda", "vdb"}, // not the CD-ROM
		NICs: []nic{
			{Dev: "tap3", MAC: "50:6b:8d:aa:bb:01", IfaceID: "7c1e2d3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f"},
			{Dev: "vnet9", MAC: "52:54:00:00:00:02"},
			// the third has neither a usable device nor MAC
		},
		PCI: []string{"0000:3b:00.0"}, // bus 0x300 is no PCI bus; USB is not PCI
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseDomainXML (-want +got):\n%s", diff)
	}
}

func TestParseDomainXMLErrors(t *testing.T) {
	for _, tc := range []struct{ name, xml, want string }{
		{"not XML", "hello", "domain XML: EOF"},
		{"other root", "<network><uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid></network>", "expected element type <domain> but have <network>"},
		{"no uuid", "<domain><name>x</name></domain>", `bad or missing <uuid> ""`},
		{"bad uuid", "<domain><uuid>6695eb01-zzzz-8304-79aa-97f2502e193f</uuid></domain>", "bad or missing <uuid>"},
		{"unclosed", "<domain><uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>", "unexpected EOF"},
		{"too big", "<domain>" + strings.Repeat(" ", maxXML) + "</domain>", "over the 4194304-byte limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseDomainXML([]byte(tc.xml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestOSOf(t *testing.T) {
	for _, tc := range []struct {
		id  string
		os  uint32
		rel string
	}{
		{"http://ubuntu.com/ubuntu/22.04", osLinux, "22.04"},
		{"http://redhat.com/rhel/9.2", osLinux, "9.2"},
		{"http://microsoft.com/win/2k19", osWindows, "2k19"},
		{"http://microsoft.com/win/10", osWindows, "10"},
		{"http://freebsd.org/freebsd/13.2", osFreeBSD, "13.2"},
		{"http://libosinfo.org/linux/2022", osLinux, "2022"},
		{"http://debian.org/debian/testing", osLinux, ""},
		{"http://example.com/mystery/1", osUnknown, ""},
		{"", osUnknown, ""},
	} {
		os, rel := osOf(tc.id)
		if os != tc.os || rel != tc.rel {
			t.Errorf("osOf(%q) = %d %q, want %d %q", tc.id, os, rel, tc.os, tc.rel)
		}
	}
}

func TestPCIAddress(t *testing.T) {
	for _, tc := range []struct {
		d, b, s, f, want string
	}{
		{"0x0000", "0x3b", "0x00", "0x0", "0000:3b:00.0"},
		{"", "0xAF", "0x1f", "0x7", "0000:af:1f.7"},
		{"0x0001", "2", "3", "1", "0001:02:03.1"},
		{"0x0000", "0x100", "0x00", "0x0", ""},
		{"0x0000", "0x00", "0x20", "0x0", ""},
		{"0x0000", "0x00", "0x00", "0x8", ""},
		{"0x0000", "", "0x00", "0x0", ""},
	} {
		got, ok := pciAddress(tc.d, tc.b, tc.s, tc.f)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("pciAddress(%s %s %s %s) = %q %v, want %q", tc.d, tc.b, tc.s, tc.f, got, ok, tc.want)
		}
	}
}

// FuzzParseDomainXML: any bytes give a spec or an error, never a panic, and
// a spec always respects the bounds.
func FuzzParseDomainXML(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "ahv-domain.xml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(web1XML))
	f.Add([]byte("<domain><uuid>6695eb01f6a4830479aa97f2502e193f</uuid><devices><hostdev type='pci'><source><address bus='1' slot='2' function='3'/></source></hostdev></devices></domain>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseDomainXML(b)
		if err != nil {
			return
		}
		if len(s.Disks) > maxDisks || len(s.NICs) > maxNICs || len(s.PCI) > maxHostdev || len(s.Name) > 256 {
			t.Fatalf("spec over its bounds: %d disks, %d NICs, %d PCI, name %d bytes", len(s.Disks), len(s.NICs), len(s.PCI), len(s.Name))
		}
		for _, p := range s.PCI {
			if len(p) != len("0000:00:00.0") {
				t.Fatalf("PCI address %q", p)
			}
		}
		for _, n := range s.NICs {
			if n.Dev != "" && !validDev(n.Dev) {
				t.Fatalf("device %q", n.Dev)
			}
		}
	})
}

func readTestdata(name string) ([]byte, error) { return os.ReadFile(filepath.Join("testdata", name)) }
