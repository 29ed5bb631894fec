package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
)

// CollectorConfig is one collector: where to send, and optionally which
// local address or interface to send from.
type CollectorConfig struct {
	Addr      netip.AddrPort
	Source    netip.Addr // local address to send from (optional)
	Interface string     // interface to send through, SO_BINDTODEVICE (optional)
}

func (c CollectorConfig) String() string { return c.Addr.String() }

// CollectorStats are the counters of one collector.
type CollectorStats struct {
	Collector string
	Datagrams uint64
	Bytes     uint64
	Errors    uint64
	LastError string
}

// collector sends to one collector over its own connected UDP socket, so an
// ICMP error for one collector (port unreachable, no route) shows up only on
// that collector's socket and never delays the others.
type collector struct {
	cfg                    CollectorConfig
	log                    *slog.Logger
	conn                   *net.UDPConn
	datagrams, bytes, errs atomic.Uint64
	mu                     sync.Mutex
	lastErr                string
	okRun                  int // successful writes since the last error
}

// recoverAfter is how many writes in a row must succeed before a collector
// that failed counts as reachable again. A closed port makes every other
// write fail (the ICMP error surfaces on the next write), which must not
// flap the log.
const recoverAfter = 3

func dialCollector(cfg CollectorConfig, log *slog.Logger) (*collector, error) {
	if !cfg.Addr.IsValid() || cfg.Addr.Port() == 0 {
		return nil, fmt.Errorf("collector %q: need an address and a port", cfg.Addr)
	}
	var laddr *net.UDPAddr
	if cfg.Source.IsValid() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(cfg.Source, 0))
	}
	d := net.Dialer{LocalAddr: laddr}
	if cfg.Interface != "" {
		dev := cfg.Interface
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptString(int(fd), syscall.SOL_SOCKET, syscall.SO_BINDTODEVICE, dev)
			}); err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("bind to device %s: %w", dev, serr)
			}
			return nil
		}
	}
	network := "udp4"
	if cfg.Addr.Addr().Is6() && !cfg.Addr.Addr().Is4In6() {
		network = "udp6"
	}
	c, err := d.Dial(network, cfg.Addr.String())
	if err != nil {
		return nil, fmt.Errorf("collector %s: %w", cfg.Addr, err)
	}
	return &collector{cfg: cfg, log: log, conn: c.(*net.UDPConn)}, nil
}

// send writes one datagram; a failure is counted and logged only when the
// collector's state changes (first error, different error, recovery).
func (c *collector) send(b []byte) {
	_, err := c.conn.Write(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.errs.Add(1)
		c.okRun = 0
		msg := errors.Unwrap(err)
		if msg == nil {
			msg = err
		}
		if m := msg.Error(); m != c.lastErr {
			c.lastErr = m
			c.log.Warn("collector unreachable", "collector", c.cfg.Addr.String(), "err", m)
		}
		return
	}
	c.datagrams.Add(1)
	c.bytes.Add(uint64(len(b)))
	c.okRun++
	if c.lastErr != "" && c.okRun >= recoverAfter {
		c.log.Info("collector reachable again", "collector", c.cfg.Addr.String())
		c.lastErr = ""
	}
}

// exporterSet is the agent's collectors.
type exporterSet struct {
	collectors []*collector
}

func newExporterSet(cfgs []CollectorConfig, log *slog.Logger) (*exporterSet, error) {
	s := &exporterSet{}
	for _, cfg := range cfgs {
		c, err := dialCollector(cfg, log)
		if err != nil {
			s.close()
			return nil, err
		}
		s.collectors = append(s.collectors, c)
	}
	return s, nil
}

func (s *exporterSet) send(b []byte) {
	for _, c := range s.collectors {
		c.send(b)
	}
}

func (s *exporterSet) close() {
	for _, c := range s.collectors {
		c.conn.Close()
	}
}

func (s *exporterSet) stats() []CollectorStats {
	out := make([]CollectorStats, 0, len(s.collectors))
	for _, c := range s.collectors {
		c.mu.Lock()
		last := c.lastErr
		c.mu.Unlock()
		out = append(out, CollectorStats{
			Collector: c.cfg.Addr.String(), Datagrams: c.datagrams.Load(), Bytes: c.bytes.Load(),
			Errors: c.errs.Load(), LastError: last,
		})
	}
	return out
}
