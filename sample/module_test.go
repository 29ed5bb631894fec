package sample

import (
	"testing"

	"gwd/config"
	"gwd/internal/app"
)

// TestHsflowdConf: the hsflowd.conf spellings, including the older
// sflow-level nflogGroup / nflogProbability, turn the modules on with
// hsflowd's meaning.
func TestHsflowdConf(t *testing.T) {
	mods := []app.Module{NFLOG, Pcap, Psample, Dropmon}
	conf := `sflow {
  collector { ip = 127.0.0.1 }
  nflogGroup = 7
  nflogProbability = 0.01
  pcap { dev = eth0 }
  pcap { dev = eth1 sampling = 50 }
  psample { group = 3 egress = on }
  dropmon { limit = 20 hw = off hide = "^skb_" }
}
`
	c, err := config.Parse("hsflowd.conf", []byte(conf), app.Sections(mods)...)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %v", c.Warnings)
	}
	n := config.Get[NFLOGOptions](c)
	if n.Enabled != config.On || n.Group != 7 || n.Probability != 0.01 {
		t.Errorf("nflog %+v", n)
	}
	p := config.Get[PcapOptions](c)
	if p.Enabled != config.On || len(p.Devices) != 2 || p.Devices[1] != "eth1" || p.Sampling != 50 {
		t.Errorf("pcap %+v", p)
	}
	ps := config.Get[PsampleOptions](c)
	if ps.Enabled != config.On || ps.Group != 3 || !ps.Egress || !ps.Ingress {
		t.Errorf("psample %+v", ps)
	}
	d := config.Get[DropmonOptions](c)
	if d.Enabled != config.On || d.Limit != 20 || d.HW || !d.SW || d.Hide != "^skb_" {
		t.Errorf("dropmon %+v", d)
	}
	// Bad values are errors naming the key.
	for _, bad := range []string{
		"sflow {\n  nflog { probability = 2 }\n}\n",
		"sflow {\n  dropmon { limit = 0 }\n}\n",
		"sflow {\n  pcap { device = eth0 }\n}\n",
	} {
		if _, err := config.Parse("hsflowd.conf", []byte(bad), app.Sections(mods)...); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
