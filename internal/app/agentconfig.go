package app

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"gwd/agent"
	"gwd/config"
)

// AgentConfig builds the agent's configuration. Collectors given by host name
// are resolved through resolve (which may be nil when every collector is
// an IP address); an error names the collector.
func AgentConfig(c *config.Config, resolve func(host string) (netip.Addr, error)) (agent.Config, error) {
	ac := agent.Config{
		SubAgent:      c.Identity.SubAgent,
		Polling:       c.Polling,
		DatagramBytes: c.DatagramBytes,
		ForgetAfter:   time.Duration(c.GracePolls) * c.Polling,
		Address: agent.AddressConfig{
			IP:        c.Identity.Address,
			Interface: c.Identity.Interface,
			CIDRs:     slices.Clone(c.Identity.CIDRs),
		},
	}
	var errs []error
	for i, col := range c.Collectors {
		ip, err := netip.ParseAddr(col.Address)
		if err != nil {
			switch {
			case resolve == nil:
				err = errors.New("host name given but no resolver")
			default:
				ip, err = resolve(col.Address)
				if err == nil && !ip.IsValid() {
					err = errors.New("resolver returned no address")
				}
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("config: collector %d (%s): %w", i, col.Address, err))
				continue
			}
		}
		port := col.Port
		if port == 0 {
			port = config.DefaultPort
		}
		ac.Collectors = append(ac.Collectors, agent.CollectorConfig{
			Addr:      netip.AddrPortFrom(ip.Unmap(), port),
			Source:    col.Source,
			Interface: col.Interface,
		})
	}
	if len(errs) > 0 {
		return agent.Config{}, errors.Join(errs...)
	}
	return ac, nil
}
