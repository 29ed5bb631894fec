package asic

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// OIDMap says which SNMP object fills which 4413:1-3 field, for switch
// operating systems that publish table and buffer utilization in vendor
// MIBs. It is read from a YAML file (docs/asic.md describes the format;
// asic/maps/ has examples):
//
//	name: example switch OS
//	tables:                 # 4413:3, scalar objects (GET)
//	  ipv4_entries: .1.3.6.1.4.1.32473.1.1.1.0
//	  ipv4_entries_max: {oid: .1.3.6.1.4.1.32473.1.1.1.0, add: [.1.3.6.1.4.1.32473.1.1.2.0]}
//	device:                 # 4413:1, scalar objects
//	  uc_pc: {oid: .1.3.6.1.4.1.32473.1.2.1.0, of: .1.3.6.1.4.1.32473.1.2.2.0}
//	ports:                  # 4413:2, table columns (walked)
//	  index: ifname         # row index -> IF-MIB ifName -> kernel netdev
//	  fields:
//	    ingress_uc_pc: {oid: .1.3.6.1.4.1.32473.1.3.1.2, scale: 100}
//	    egress_queue_uc_pc: {oid: .1.3.6.1.4.1.32473.1.4.1.3, scale: 100}
//
// A value is the integer at oid plus the integers at add; with of, it is
// a percentage: 10000 * value / of (hundredths of a percent); otherwise it
// is multiplied by scale (default 1; 100 turns whole percent into
// hundredths).
type OIDMap struct {
	Name   string
	Tables map[int]ValueSpec    // by hw_tables field (HostEntries, ...)
	Device map[string]ValueSpec // "uc_pc", "mc_pc"
	Ports  *PortMap
}

// ValueSpec is how one field is computed from SNMP objects.
type ValueSpec struct {
	OID   string
	Add   []string
	Of    string
	Scale float64
}

// PortMap maps the columns of a per-port table to 4413:2 fields.
type PortMap struct {
	// Index says what a row index is: "ifname" (default: a row of
	// NameColumn gives the port's name, which is the kernel netdev name)
	// or "ifindex" (the row index is the kernel ifIndex).
	Index string
	// NameColumn is the column of port names (default IF-MIB ifName,
	// .1.3.6.1.2.1.31.1.1.1.1).
	NameColumn string
	// QueueBase is the number of the first queue in queue columns, whose
	// rows are indexed <port>.<queue> (default 0).
	QueueBase int
	// Fields: ingress_uc_pc, ingress_mc_pc, egress_uc_pc, egress_mc_pc,
	// egress_queue_uc_pc, egress_queue_mc_pc.
	Fields map[string]ValueSpec
}

// DefaultNameColumn is IF-MIB ifName.
const DefaultNameColumn = ".1.3.6.1.2.1.31.1.1.1.1"

var portFields = []string{"ingress_uc_pc", "ingress_mc_pc", "egress_uc_pc", "egress_mc_pc", "egress_queue_uc_pc", "egress_queue_mc_pc"}

var oidRE = regexp.MustCompile(`^\.?[0-9]+(\.[0-9]+)+$`)

// normOID checks a numeric OID and returns it with a leading dot.
func normOID(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !oidRE.MatchString(s) || len(s) > 512 {
		return "", fmt.Errorf("%q is not a numeric OID (MIB names are not supported)", s)
	}
	if !strings.HasPrefix(s, ".") {
		s = "." + s
	}
	return s, nil
}

// LoadOIDMap reads and checks an OID map file.
func LoadOIDMap(path string) (*OIDMap, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("OID map: %w", err)
	}
	m, err := ParseOIDMap(b)
	if err != nil {
		return nil, fmt.Errorf("OID map %s: %w", path, err)
	}
	return m, nil
}

// rawValue is a ValueSpec as written: an OID string or a mapping.
type rawValue struct {
	ValueSpec
	line int
}

func (v *rawValue) UnmarshalYAML(n *yaml.Node) error {
	v.line = n.Line
	if n.Kind == yaml.ScalarNode {
		v.OID = n.Value
		return nil
	}
	var m struct {
		OID   string   `yaml:"oid"`
		Add   []string `yaml:"add"`
		Of    string   `yaml:"of"`
		Scale *float64 `yaml:"scale"`
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want an OID or a mapping with oid, add, of, scale", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i].Value; k {
		case "oid", "add", "of", "scale":
		default:
			return fmt.Errorf("line %d: unknown key %q (want oid, add, of, scale)", n.Content[i].Line, k)
		}
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	v.OID, v.Add, v.Of = m.OID, m.Add, m.Of
	if m.Scale != nil {
		if *m.Scale <= 0 || math.IsInf(*m.Scale, 0) || math.IsNaN(*m.Scale) {
			return fmt.Errorf("line %d: scale must be a positive number", n.Line)
		}
		v.Scale = *m.Scale
	}
	return nil
}

func (v *rawValue) check(what string, pctField bool) (ValueSpec, error) {
	s := v.ValueSpec
	fail := func(err error) (ValueSpec, error) { return s, fmt.Errorf("line %d: %s: %w", v.line, what, err) }
	if s.OID == "" {
		return fail(errors.New("oid missing"))
	}
	var err error
	if s.OID, err = normOID(s.OID); err != nil {
		return fail(err)
	}
	adds := make([]string, len(s.Add))
	for i, a := range s.Add {
		if adds[i], err = normOID(a); err != nil {
			return fail(err)
		}
	}
	s.Add = adds
	if s.Of != "" {
		if !pctField {
			return fail(errors.New("of is for percentages only"))
		}
		if s.Of, err = normOID(s.Of); err != nil {
			return fail(err)
		}
		if s.Scale != 0 {
			return fail(errors.New("give either of or scale, not both"))
		}
	}
	if s.Scale == 0 {
		s.Scale = 1
	}
	return s, nil
}

// ParseOIDMap parses and checks an OID map (YAML).
func ParseOIDMap(b []byte) (*OIDMap, error) {
	var raw struct {
		Name   string              `yaml:"name"`
		Tables map[string]rawValue `yaml:"tables"`
		Device map[string]rawValue `yaml:"device"`
		Ports  *struct {
			Index      string              `yaml:"index"`
			NameColumn string              `yaml:"name_column"`
			QueueBase  int                 `yaml:"queue_base"`
			Fields     map[string]rawValue `yaml:"fields"`
		} `yaml:"ports"`
	}
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty OID map")
		}
		return nil, err
	}
	m := &OIDMap{Name: raw.Name, Tables: map[int]ValueSpec{}, Device: map[string]ValueSpec{}}
	for _, name := range sortedKeys(raw.Tables) {
		f, ok := tableField(name)
		if !ok {
			return nil, fmt.Errorf("tables: unknown hw_tables field %q", name)
		}
		v := raw.Tables[name]
		s, err := v.check("tables."+name, false)
		if err != nil {
			return nil, err
		}
		m.Tables[f] = s
	}
	for _, name := range sortedKeys(raw.Device) {
		if name != "uc_pc" && name != "mc_pc" {
			return nil, fmt.Errorf("device: unknown field %q (want uc_pc, mc_pc)", name)
		}
		v := raw.Device[name]
		s, err := v.check("device."+name, true)
		if err != nil {
			return nil, err
		}
		m.Device[name] = s
	}
	if p := raw.Ports; p != nil {
		pm := &PortMap{Index: p.Index, NameColumn: p.NameColumn, QueueBase: p.QueueBase, Fields: map[string]ValueSpec{}}
		switch pm.Index {
		case "":
			pm.Index = "ifname"
		case "ifname", "ifindex":
		default:
			return nil, fmt.Errorf("ports.index %q: want ifname or ifindex", pm.Index)
		}
		if pm.NameColumn == "" {
			pm.NameColumn = DefaultNameColumn
		}
		var err error
		if pm.NameColumn, err = normOID(pm.NameColumn); err != nil {
			return nil, fmt.Errorf("ports.name_column: %w", err)
		}
		if pm.QueueBase < 0 {
			return nil, fmt.Errorf("ports.queue_base %d is negative", pm.QueueBase)
		}
		for _, name := range sortedKeys(p.Fields) {
			found := false
			for _, f := range portFields {
				found = found || f == name
			}
			if !found {
				return nil, fmt.Errorf("ports.fields: unknown field %q (want %s)", name, strings.Join(portFields, ", "))
			}
			v := p.Fields[name]
			s, err := v.check("ports.fields."+name, true)
			if err != nil {
				return nil, err
			}
			pm.Fields[name] = s
		}
		if len(pm.Fields) == 0 {
			return nil, errors.New("ports: no fields")
		}
		m.Ports = pm
	}
	if len(m.Tables)+len(m.Device) == 0 && m.Ports == nil {
		return nil, errors.New("the map fills no field")
	}
	return m, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
