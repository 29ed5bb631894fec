package asic

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ifIndexer turns a netdev name into its kernel ifIndex through sysfs
// (<root>/class/net/<name>/ifindex), so that tests run on a fixture tree.
type ifIndexer struct{ root string }

// ifIndex returns the kernel ifIndex of the netdev called name.
func (x ifIndexer) ifIndex(name string) (uint32, bool) {
	if !validNetdevName(name) {
		return 0, false
	}
	b, err := os.ReadFile(filepath.Join(x.root, "class", "net", name, "ifindex"))
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil || v == 0 {
		return 0, false
	}
	return uint32(v), true
}

// validNetdevName reports whether name can be a Linux netdev name; names
// come from other programs' databases and must not walk the file system.
func validNetdevName(name string) bool {
	if name == "" || len(name) > 15 || name == "." || name == ".." {
		return false
	}
	return !strings.ContainsAny(name, "/ \t\n\x00:")
}
