package asic

import (
	"os"
	"strconv"
)

// detect says whether backend name's data source is present on this
// machine, and why (for the startup log).
func detect(name string, cfg *Config) (bool, string) {
	switch name {
	case BackendSONiC:
		if fi, err := os.Stat(cfg.SONiC.DBConfig); err == nil && fi.Mode().IsRegular() {
			return true, "found " + cfg.SONiC.DBConfig
		}
	case BackendCumulus:
		if fi, err := os.Stat(cfg.CumulusDir); err == nil && fi.IsDir() {
			return true, "found " + cfg.CumulusDir
		}
	case BackendDevlink:
		if devs, err := (netlinkDevlink{}).devices(); err == nil && len(devs) > 0 {
			return true, strconv.Itoa(len(devs)) + " devlink device(s)"
		}
	case BackendSNMP:
		if cfg.SNMP.Map != "" {
			return true, "OID map " + cfg.SNMP.Map + " configured"
		}
	}
	return false, ""
}
