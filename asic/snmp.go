package asic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"gwd/config"
	"log/slog"
	"math"
	"math/big"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"
)

// SNMPConfig configures the snmp backend. Community and passphrases are
// secrets: String and LogValue leave them out, and no error carries them.
type SNMPConfig struct {
	// Target is the agent, host:port (default 127.0.0.1:161).
	Target string `key:"target" default:"127.0.0.1:161" type:"host:port" doc:"the NOS's snmpd"`
	// Version is "2c" (default) or "3".
	Version string `key:"version" default:"2c" enum:"2c|3" doc:"SNMP version"`
	// Community is the v2c community.
	Community string `key:"community" secret:"true" doc:"v2c community (never logged or printed)"`
	// User, AuthProtocol (MD5, SHA, SHA224, SHA256, SHA384, SHA512),
	// AuthPassphrase, PrivProtocol (DES, AES, AES192, AES256, AES192C,
	// AES256C), PrivPassphrase and Context are the v3 (USM) settings;
	// with both protocols set the requests are authPriv.
	User           string `key:"user" doc:"v3 user"`
	AuthProtocol   string `key:"auth_protocol" enum:"MD5|SHA|SHA224|SHA256|SHA384|SHA512" doc:"v3 authentication protocol"`
	AuthPassphrase string `key:"auth_passphrase" secret:"true" doc:"v3 authentication passphrase (never logged or printed)"`
	PrivProtocol   string `key:"priv_protocol" enum:"DES|AES|AES192|AES256|AES192C|AES256C" doc:"v3 privacy protocol"`
	PrivPassphrase string `key:"priv_passphrase" secret:"true" doc:"v3 privacy passphrase (never logged or printed)"`
	Context        string `key:"context" doc:"v3 context name"`
	// Timeout is the wait for one response (default 2s); Retries the
	// retransmissions after it (default 1).
	Timeout time.Duration `key:"timeout" default:"2s" min:"100ms" max:"1h" doc:"wait for one response"`
	Retries int           `key:"retries" default:"1" min:"0" max:"255" doc:"retransmissions after a timeout"`
	// Map is the OID map file (required).
	Map string `key:"map" type:"path" doc:"OID map file (examples in asic/maps/); setting it lets auto use SNMP"`
}

const redacted = "<redacted>"

// String describes c without its secrets.
func (c SNMPConfig) String() string {
	return fmt.Sprintf("snmp{target=%s version=%s user=%s auth=%s priv=%s map=%s secrets=%s}",
		c.Target, c.Version, c.User, c.AuthProtocol, c.PrivProtocol, c.Map, redacted)
}

// LogValue implements slog.LogValuer without the secrets.
func (c SNMPConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("target", c.Target), slog.String("version", c.Version),
		slog.String("user", c.User), slog.String("auth", c.AuthProtocol), slog.String("priv", c.PrivProtocol),
		slog.String("map", c.Map))
}

// MarshalJSON encodes c without its secrets.
func (c SNMPConfig) MarshalJSON() ([]byte, error) {
	type plain SNMPConfig
	p := plain(c)
	for _, s := range []*string{&p.Community, &p.AuthPassphrase, &p.PrivPassphrase} {
		if *s != "" {
			*s = redacted
		}
	}
	return json.Marshal(p)
}

var authProtocols = map[string]gosnmp.SnmpV3AuthProtocol{
	"MD5": gosnmp.MD5, "SHA": gosnmp.SHA, "SHA224": gosnmp.SHA224, "SHA256": gosnmp.SHA256,
	"SHA384": gosnmp.SHA384, "SHA512": gosnmp.SHA512,
}

var privProtocols = map[string]gosnmp.SnmpV3PrivProtocol{
	"DES": gosnmp.DES, "AES": gosnmp.AES, "AES192": gosnmp.AES192, "AES256": gosnmp.AES256,
	"AES192C": gosnmp.AES192C, "AES256C": gosnmp.AES256C,
}

func (c *SNMPConfig) normalize() error {
	config.FillZero(c)
	if _, _, err := splitTarget(c.Target); err != nil {
		return err
	}
	if c.Timeout < 0 || c.Retries < 0 {
		return errors.New("asic: snmp.timeout and snmp.retries must not be negative")
	}
	switch c.Version {
	case "2c":
		if c.Community == "" {
			return errors.New("asic: snmp.community is required for version 2c")
		}
	case "3":
		if c.User == "" {
			return errors.New("asic: snmp.user is required for version 3")
		}
		c.AuthProtocol, c.PrivProtocol = strings.ToUpper(c.AuthProtocol), strings.ToUpper(c.PrivProtocol)
		if _, ok := authProtocols[c.AuthProtocol]; c.AuthProtocol != "" && !ok {
			return fmt.Errorf("asic: snmp.auth_protocol %q: want MD5, SHA, SHA224, SHA256, SHA384 or SHA512", c.AuthProtocol)
		}
		if _, ok := privProtocols[c.PrivProtocol]; c.PrivProtocol != "" && !ok {
			return fmt.Errorf("asic: snmp.priv_protocol %q: want DES, AES, AES192, AES256, AES192C or AES256C", c.PrivProtocol)
		}
		if c.PrivProtocol != "" && c.AuthProtocol == "" {
			return errors.New("asic: snmp.priv_protocol needs snmp.auth_protocol (authPriv)")
		}
		if c.AuthProtocol != "" && len(c.AuthPassphrase) < 8 || c.PrivProtocol != "" && len(c.PrivPassphrase) < 8 {
			return errors.New("asic: snmp passphrases must have at least 8 characters")
		}
	default:
		return fmt.Errorf("asic: snmp.version %q: want 2c or 3", c.Version)
	}
	return nil
}

func splitTarget(t string) (string, uint16, error) {
	host, port, err := net.SplitHostPort(t)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return t, 161, nil
		}
		return "", 0, fmt.Errorf("asic: snmp.target %q: %w", t, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("asic: snmp.target %q: bad port", t)
	}
	return host, uint16(p), nil
}

// Errors of the snmp backend (wrapped with the target).
var (
	ErrNoResponse = errors.New("no response")
	ErrSNMPAuth   = errors.New("SNMPv3 authentication failed")
)

// snmpValue is one object's value: numeric or a string.
type snmpValue struct {
	num   *big.Int // nil for strings
	str   string
	isNum bool
}

// snmpClient is the part of SNMP the backend uses (gosnmp in production).
type snmpClient interface {
	// get returns the values of oids; objects the agent lacks are absent.
	get(ctx context.Context, oids []string) (map[string]snmpValue, error)
	// walk returns the objects under root, by the OID suffix after root.
	walk(ctx context.Context, root string) (map[string]snmpValue, error)
	close() error
}

type snmpBackend struct {
	cfg    SNMPConfig
	m      *OIDMap
	idx    ifIndexer
	client snmpClient
	dial   func(SNMPConfig) (snmpClient, error)
}

func newSNMP(cfg SNMPConfig, m *OIDMap, idx ifIndexer) *snmpBackend {
	return &snmpBackend{cfg: cfg, m: m, idx: idx, dial: dialGoSNMP}
}

func (s *snmpBackend) name() string { return BackendSNMP }

func (s *snmpBackend) close() error {
	if s.client == nil {
		return nil
	}
	return s.client.close()
}

func (s *snmpBackend) read(ctx context.Context) (reading, error) {
	if s.client == nil {
		c, err := s.dial(s.cfg)
		if err != nil {
			return reading{}, s.wrap(err)
		}
		s.client = c
	}
	var missing []string
	// Scalars: tables and device.
	var oids []string
	for _, v := range s.m.Tables {
		oids = append(oids, v.oids()...)
	}
	for _, v := range s.m.Device {
		oids = append(oids, v.oids()...)
	}
	vals := map[string]snmpValue{}
	if len(oids) > 0 {
		var err error
		if vals, err = s.client.get(ctx, dedupe(oids)); err != nil {
			return reading{}, s.wrap(err)
		}
	}
	lookup := func(o string) (*big.Int, bool) {
		v, ok := vals[o]
		if !ok || !v.isNum {
			missing = append(missing, o)
			return nil, false
		}
		return v.num, true
	}
	r := reading{}
	if len(s.m.Tables) > 0 {
		t := unknownTables()
		for f, v := range s.m.Tables {
			if x, ok := v.eval(lookup, false); ok {
				t[f] = int64(x)
			}
		}
		r.tables = &t
	}
	if len(s.m.Device) > 0 {
		d := DeviceBuffers{UC: Unknown, MC: Unknown}
		if v, ok := s.m.Device["uc_pc"]; ok {
			d.UC = pctValue(v.eval(lookup, true))
		}
		if v, ok := s.m.Device["mc_pc"]; ok {
			d.MC = pctValue(v.eval(lookup, true))
		}
		r.device = &d
	}
	if s.m.Ports != nil {
		ports, miss, err := s.readPorts(ctx)
		if err != nil {
			return r, s.wrap(err)
		}
		missing = append(missing, miss...)
		r.ports = ports
	}
	if len(missing) > 0 {
		missing = dedupe(missing)
		more := ""
		if len(missing) > 3 {
			more = fmt.Sprintf(" and %d more", len(missing)-3)
			missing = missing[:3]
		}
		return r, fmt.Errorf("snmp %s: the agent has no integer value for %d mapped object(s) of the OID map: %s%s",
			s.cfg.Target, len(missing), strings.Join(missing, ", "), more)
	}
	return r, nil
}

// readPorts walks the port columns into 4413:2.
func (s *snmpBackend) readPorts(ctx context.Context) (map[uint32]*PortBuffers, []string, error) {
	pm := s.m.Ports
	cols := map[string]map[string]snmpValue{}
	var missing []string
	var roots []string
	for _, v := range pm.Fields {
		roots = append(roots, v.oids()...)
	}
	if pm.Index == "ifname" {
		roots = append(roots, pm.NameColumn)
	}
	for _, root := range dedupe(roots) {
		rows, err := s.client.walk(ctx, root)
		if err != nil {
			return nil, nil, err
		}
		if len(rows) == 0 {
			missing = append(missing, root)
		}
		cols[root] = rows
	}
	// row index -> kernel ifIndex
	rowIf := map[string]uint32{}
	rowsOf := func(col string) []string {
		var rs []string
		for suffix := range cols[col] {
			row, _, _ := strings.Cut(suffix, ".")
			rs = append(rs, row)
		}
		return rs
	}
	var rows []string
	for _, v := range pm.Fields {
		rows = append(rows, rowsOf(v.OID)...)
	}
	for _, row := range dedupe(rows) {
		switch pm.Index {
		case "ifindex":
			if n, err := strconv.ParseUint(row, 10, 32); err == nil && n > 0 {
				rowIf[row] = uint32(n)
			}
		default:
			if name, ok := cols[pm.NameColumn][row]; ok && !name.isNum {
				if idx, ok := s.idx.ifIndex(name.str); ok {
					rowIf[row] = idx
				}
			}
		}
	}
	ports := map[uint32]*PortBuffers{}
	port := func(row string) *PortBuffers {
		idx, ok := rowIf[row]
		if !ok {
			return nil
		}
		if ports[idx] == nil {
			b := unknownPort()
			ports[idx] = &b
		}
		return ports[idx]
	}
	colValue := func(suffix string) func(string) (*big.Int, bool) {
		return func(col string) (*big.Int, bool) {
			v, ok := cols[col][suffix]
			if !ok || !v.isNum {
				return nil, false
			}
			return v.num, true
		}
	}
	scalar := map[string]func(*PortBuffers) *int32{
		"ingress_uc_pc": func(b *PortBuffers) *int32 { return &b.IngressUC },
		"ingress_mc_pc": func(b *PortBuffers) *int32 { return &b.IngressMC },
		"egress_uc_pc":  func(b *PortBuffers) *int32 { return &b.EgressUC },
		"egress_mc_pc":  func(b *PortBuffers) *int32 { return &b.EgressMC },
	}
	for name, v := range pm.Fields {
		for suffix := range cols[v.OID] {
			row, q, isQueue := strings.Cut(suffix, ".")
			b := port(row)
			if b == nil {
				continue
			}
			val := pctValue(v.eval(colValue(suffix), true))
			if field, ok := scalar[name]; ok && !isQueue {
				*field(b) = val
				continue
			}
			qi, err := strconv.Atoi(q)
			qi -= pm.QueueBase
			if !isQueue || err != nil || qi < 0 || qi >= MaxQueues {
				continue
			}
			switch name {
			case "egress_queue_uc_pc":
				b.QueueUC = setQueue(b.QueueUC, qi, val)
			case "egress_queue_mc_pc":
				b.QueueMC = setQueue(b.QueueMC, qi, val)
			}
		}
	}
	// Without a mapped port-wide egress figure, the busiest queue's is used.
	for _, b := range ports {
		if _, ok := pm.Fields["egress_uc_pc"]; !ok {
			b.EgressUC = maxKnown(b.QueueUC...)
		}
		if _, ok := pm.Fields["egress_mc_pc"]; !ok {
			b.EgressMC = maxKnown(b.QueueMC...)
		}
	}
	return ports, missing, nil
}

// setQueue sets queue i of qs, growing it with Unknown entries.
func setQueue(qs []int32, i int, v int32) []int32 {
	for len(qs) <= i {
		qs = append(qs, Unknown)
	}
	qs[i] = v
	return qs
}

// oids lists the objects a value reads.
func (v ValueSpec) oids() []string {
	out := append([]string{v.OID}, v.Add...)
	if v.Of != "" {
		out = append(out, v.Of)
	}
	return out
}

// eval computes a value; for a percentage it returns hundredths of a
// percent. ok is false when an object is missing or the result is not a
// valid count (negative, or a zero denominator).
func (v ValueSpec) eval(get func(string) (*big.Int, bool), isPct bool) (float64, bool) {
	sum := new(big.Int)
	ok := true
	for _, o := range append([]string{v.OID}, v.Add...) {
		x, found := get(o)
		if !found {
			ok = false
			continue
		}
		sum.Add(sum, x)
	}
	var total *big.Int
	if v.Of != "" {
		var found bool
		if total, found = get(v.Of); !found {
			ok = false
		}
	}
	if !ok || sum.Sign() < 0 {
		return 0, false
	}
	f, _ := new(big.Float).SetInt(sum).Float64()
	if total != nil {
		if total.Sign() <= 0 {
			return 0, false
		}
		t, _ := new(big.Float).SetInt(total).Float64()
		return math.Min(math.Round(f*10000/t), 10000), true
	}
	f = math.Round(f * v.Scale)
	if isPct {
		f = math.Min(f, 10000)
	}
	return math.Min(f, math.MaxInt64/2), true
}

func pctValue(v float64, ok bool) int32 {
	if !ok {
		return Unknown
	}
	return int32(v)
}

// wrap turns a client error into the backend's error, with a hint on
// what to check; it never includes secrets.
func (s *snmpBackend) wrap(err error) error {
	switch {
	case errors.Is(err, gosnmp.ErrMaxRetriesExceeded) || isTimeout(err):
		hint := "is snmpd running there?"
		if s.cfg.Version == "2c" {
			hint = "is snmpd running there, and is the community right? (an agent silently drops requests with a wrong community)"
		}
		return fmt.Errorf("snmp %s: %w within %v after %d retries: %s", s.cfg.Target, ErrNoResponse, s.cfg.Timeout, s.cfg.Retries, hint)
	case errors.Is(err, gosnmp.ErrUnknownUsername):
		return fmt.Errorf("snmp %s: %w: the agent does not know user %q", s.cfg.Target, ErrSNMPAuth, s.cfg.User)
	case errors.Is(err, gosnmp.ErrWrongDigest):
		return fmt.Errorf("snmp %s: %w: wrong authentication passphrase or protocol", s.cfg.Target, ErrSNMPAuth)
	case strings.Contains(err.Error(), "not authentic"):
		// gosnmp cannot authenticate the agent's report, so which of the
		// two it was is not known.
		return fmt.Errorf("snmp %s: %w: the agent rejected user %q (unknown user, or wrong authentication passphrase or protocol)", s.cfg.Target, ErrSNMPAuth, s.cfg.User)
	case errors.Is(err, gosnmp.ErrDecryption):
		return fmt.Errorf("snmp %s: %w: wrong privacy passphrase or protocol", s.cfg.Target, ErrSNMPAuth)
	case errors.Is(err, gosnmp.ErrUnknownSecurityLevel):
		return fmt.Errorf("snmp %s: %w: the agent refuses this security level for user %q", s.cfg.Target, ErrSNMPAuth, s.cfg.User)
	}
	return fmt.Errorf("snmp %s: %w", s.cfg.Target, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// gosnmpClient is snmpClient over gosnmp.
type gosnmpClient struct{ g *gosnmp.GoSNMP }

func dialGoSNMP(c SNMPConfig) (snmpClient, error) {
	host, port, err := splitTarget(c.Target)
	if err != nil {
		return nil, err
	}
	g := &gosnmp.GoSNMP{
		Target: host, Port: port, Transport: "udp", Timeout: c.Timeout, Retries: c.Retries,
		MaxOids: gosnmp.MaxOids, MaxRepetitions: 25, Context: context.Background(),
	}
	if c.Version == "3" {
		g.Version = gosnmp.Version3
		g.SecurityModel = gosnmp.UserSecurityModel
		g.ContextName = c.Context
		usm := &gosnmp.UsmSecurityParameters{UserName: c.User, AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}
		g.MsgFlags = gosnmp.NoAuthNoPriv
		if c.AuthProtocol != "" {
			usm.AuthenticationProtocol, usm.AuthenticationPassphrase = authProtocols[c.AuthProtocol], c.AuthPassphrase
			g.MsgFlags = gosnmp.AuthNoPriv
		}
		if c.PrivProtocol != "" {
			usm.PrivacyProtocol, usm.PrivacyPassphrase = privProtocols[c.PrivProtocol], c.PrivPassphrase
			g.MsgFlags = gosnmp.AuthPriv
		}
		g.SecurityParameters = usm
	} else {
		g.Version = gosnmp.Version2c
		g.Community = c.Community
	}
	if err := g.Connect(); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return &gosnmpClient{g: g}, nil
}

func toValue(p gosnmp.SnmpPDU) (snmpValue, bool) {
	switch p.Type {
	case gosnmp.Integer, gosnmp.Counter32, gosnmp.Gauge32, gosnmp.Counter64, gosnmp.Uinteger32, gosnmp.TimeTicks:
		return snmpValue{num: gosnmp.ToBigInt(p.Value), isNum: true}, true
	case gosnmp.OctetString:
		b, _ := p.Value.([]byte)
		return snmpValue{str: string(b)}, true
	}
	return snmpValue{}, false // noSuchObject, noSuchInstance, endOfMibView, other types
}

func (c *gosnmpClient) get(ctx context.Context, oids []string) (map[string]snmpValue, error) {
	c.g.Context = ctx
	out := map[string]snmpValue{}
	for len(oids) > 0 {
		n := min(len(oids), gosnmp.MaxOids)
		res, err := c.g.Get(oids[:n])
		if err != nil {
			return nil, err
		}
		if res.Error != gosnmp.NoError {
			return nil, fmt.Errorf("agent error %v at object %d", res.Error, res.ErrorIndex)
		}
		for _, p := range res.Variables {
			if v, ok := toValue(p); ok {
				out[p.Name] = v
			}
		}
		oids = oids[n:]
	}
	return out, nil
}

func (c *gosnmpClient) walk(ctx context.Context, root string) (map[string]snmpValue, error) {
	c.g.Context = ctx
	pdus, err := c.g.BulkWalkAll(root)
	if err != nil {
		return nil, err
	}
	out := map[string]snmpValue{}
	for _, p := range pdus {
		suffix, ok := strings.CutPrefix(p.Name, root+".")
		if !ok {
			continue
		}
		if v, ok := toValue(p); ok {
			out[suffix] = v
		}
	}
	return out, nil
}

func (c *gosnmpClient) close() error { return c.g.Conn.Close() }
