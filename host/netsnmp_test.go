package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gwd/sflow"
)

// TestNetSNMPMissingSection: /proc/net/snmp without its Udp: lines gives
// the other MIB-2 groups and an error naming the missing one.
func TestNetSNMPMissingSection(t *testing.T) {
	root := copyRoot(t, fixture)
	b, err := os.ReadFile(filepath.Join(root, "proc/net/snmp"))
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if !strings.HasPrefix(l, "Udp:") {
			keep = append(keep, l)
		}
	}
	writeFile(t, filepath.Join(root, "proc/net/snmp"), strings.Join(keep, ""))
	h, _, _ := newTestHost(t, rootConfig(t, root))
	recs, err := h.hostPoller.Poll(nil)
	if err == nil || !strings.Contains(err.Error(), "mib2_udp_group") || !strings.Contains(err.Error(), "no Udp: lines") {
		t.Errorf("error = %v, want one about the missing Udp: section", err)
	}
	if find(recs, sflow.TagMIB2UDPGroup) != nil || find(recs, sflow.TagMIB2TCPGroup) == nil {
		t.Errorf("records %v: want tcp but not udp", tags(recs))
	}
}
