package config

import (
	"fmt"
	"math"
	"slices"
	"time"

	"gopkg.in/yaml.v3"
)

// ASIC is the switch-ASIC module: hardware table use (4413:3) and buffer
// congestion (4413:1, 4413:2) from SONiC, SNMP, devlink or Cumulus.
type ASIC struct {
	Enabled Mode
	// Backends in priority order: auto, sonic, snmp, devlink, cumulus.
	Backends []string
	// Interval is how often each backend is read; buffer figures are the
	// peak of the reads since the last export.
	Interval time.Duration
	// SysRoot is where sysfs is mounted (port names to ifIndexes).
	SysRoot string
	SONiC   ASICSONiC
	SNMP    ASICSNMP
	// CumulusDir is Cumulus switchd's run directory.
	CumulusDir string
}

// ASICSONiC configures the SONiC backend (its redis databases).
type ASICSONiC struct {
	DBConfig       string // database_config.json
	Transport      string // auto, unix, tcp
	Watermarks     string // persistent or user watermark tables
	MulticastPools []string
	Timeout        time.Duration
}

// ASICSNMP configures the SNMP backend. The secrets never appear in Text().
type ASICSNMP struct {
	Target                                    string // host:port
	Version                                   string // 2c or 3
	Community                                 string
	User, AuthProtocol, AuthPassphrase        string
	PrivProtocol, PrivPassphrase, ContextName string
	Timeout                                   time.Duration
	Retries                                   uint32
	Map                                       string // OID map file
}

var asicBackends = []string{"auto", "sonic", "snmp", "devlink", "cumulus"}

func defaultASIC() ASIC {
	return ASIC{
		Enabled: Auto, Backends: []string{"auto"}, Interval: 5 * time.Second, SysRoot: "/sys",
		SONiC: ASICSONiC{DBConfig: "/var/run/redis/sonic-db/database_config.json", Transport: "auto",
			Watermarks: "persistent", MulticastPools: []string{}, Timeout: 2 * time.Second},
		SNMP:       ASICSNMP{Target: "127.0.0.1:161", Version: "2c", Timeout: 2 * time.Second, Retries: 1},
		CumulusDir: "/cumulus/switchd/run",
	}
}

func oneOf(allowed ...string) func(string) string {
	return func(s string) string {
		if slices.Contains(allowed, s) {
			return ""
		}
		return fmt.Sprintf("%q is not one of %v", s, allowed)
	}
}

func (d *ydec) asic(path string, n *yaml.Node, a *ASIC) {
	secs := func(t time.Duration) string {
		if t < 100*time.Millisecond || t > time.Hour {
			return fmt.Sprintf("%v is outside 100ms..1h", t)
		}
		return ""
	}
	text := func(name string, dst *string, check func(string) string) field {
		return field{name, func(p string, v *yaml.Node) { d.text(p, v, true, check, dst) }}
	}
	d.object(n, path,
		field{"enabled", func(p string, v *yaml.Node) { d.mode(p, v, &a.Enabled) }},
		field{"backends", func(p string, v *yaml.Node) {
			a.Backends = []string{}
			d.list(v, p, func(p string, v *yaml.Node) {
				var b string
				d.text(p, v, false, oneOf(asicBackends...), &b)
				a.Backends = append(a.Backends, b)
			})
		}},
		field{"interval", func(p string, v *yaml.Node) { d.duration(p, v, secs, &a.Interval) }},
		text("sys_root", &a.SysRoot, nil),
		text("cumulus_dir", &a.CumulusDir, nil),
		field{"sonic", func(p string, v *yaml.Node) {
			s := &a.SONiC
			d.object(v, p,
				text("db_config", &s.DBConfig, nil),
				text("transport", &s.Transport, oneOf("auto", "unix", "tcp")),
				text("watermarks", &s.Watermarks, oneOf("persistent", "user")),
				field{"multicast_pools", func(p string, v *yaml.Node) {
					s.MulticastPools = []string{}
					d.list(v, p, func(p string, v *yaml.Node) {
						d.str(p, v, func(x string) { s.MulticastPools = append(s.MulticastPools, x) })
					})
				}},
				field{"timeout", func(p string, v *yaml.Node) { d.duration(p, v, secs, &s.Timeout) }})
		}},
		field{"snmp", func(p string, v *yaml.Node) {
			s := &a.SNMP
			d.object(v, p,
				text("target", &s.Target, nil),
				text("version", &s.Version, oneOf("2c", "3")),
				text("community", &s.Community, nil),
				text("user", &s.User, nil),
				text("auth_protocol", &s.AuthProtocol, oneOf("", "MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512")),
				text("auth_passphrase", &s.AuthPassphrase, nil),
				text("priv_protocol", &s.PrivProtocol, oneOf("", "DES", "AES", "AES192", "AES256", "AES192C", "AES256C")),
				text("priv_passphrase", &s.PrivPassphrase, nil),
				text("context", &s.ContextName, nil),
				field{"timeout", func(p string, v *yaml.Node) { d.duration(p, v, secs, &s.Timeout) }},
				field{"retries", func(p string, v *yaml.Node) { d.u32(p, v, 0, math.MaxUint8, &s.Retries) }},
				text("map", &s.Map, nil))
		}},
	)
}

// secret shows whether a secret is set without showing it.
func secret(s string) *yaml.Node {
	if s == "" {
		return str("")
	}
	return str("<redacted>")
}

func asicText(a ASIC) *yaml.Node {
	backends := make([]*yaml.Node, len(a.Backends))
	for i, b := range a.Backends {
		backends[i] = str(b)
	}
	pools := make([]*yaml.Node, len(a.SONiC.MulticastPools))
	for i, p := range a.SONiC.MulticastPools {
		pools[i] = str(p)
	}
	s := a.SNMP
	return mapping("enabled", mode(a.Enabled), "backends", seq(backends), "interval", str(durationText(a.Interval)),
		"sys_root", str(a.SysRoot), "cumulus_dir", str(a.CumulusDir),
		"sonic", mapping("db_config", str(a.SONiC.DBConfig), "transport", str(a.SONiC.Transport),
			"watermarks", str(a.SONiC.Watermarks), "multicast_pools", seq(pools), "timeout", str(durationText(a.SONiC.Timeout))),
		"snmp", mapping("target", str(s.Target), "version", str(s.Version), "community", secret(s.Community),
			"user", str(s.User), "auth_protocol", str(s.AuthProtocol), "auth_passphrase", secret(s.AuthPassphrase),
			"priv_protocol", str(s.PrivProtocol), "priv_passphrase", secret(s.PrivPassphrase), "context", str(s.ContextName),
			"timeout", str(durationText(s.Timeout)), "retries", num(s.Retries), "map", str(s.Map)))
}
