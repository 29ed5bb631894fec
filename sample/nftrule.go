package sample

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// nftTable is the nftables table gwd owns when modules.nflog.install_rule
// is set: one chain at the prerouting hook that logs 1 packet in N, at
// random (numgen random mod N == 0), to the NFLOG group.
const (
	nftTable = "gwd_sample"
	nftChain = "sample"
)

// nflogRule is the installed table, removed by remove.
type nflogRule struct {
	c     *nftables.Conn
	table *nftables.Table
}

// ruleModulus is the N of probability p.
func ruleModulus(p float64) uint32 { return uint32(max(1, math.Round(1/p))) }

// ruleExprs are the expressions of the rule for one interface ("" for
// all).
func ruleExprs(ifName string, group uint16, n, snap uint32) []expr.Any {
	var e []expr.Any
	if ifName != "" {
		name := make([]byte, unix.IFNAMSIZ)
		copy(name, ifName)
		e = append(e, &expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name})
	}
	zero := make([]byte, 4)
	binary.NativeEndian.PutUint32(zero, 0)
	return append(e,
		&expr.Numgen{Register: 1, Modulus: n, Type: unix.NFT_NG_RANDOM},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: zero},
		&expr.Log{Key: 1<<unix.NFTA_LOG_GROUP | 1<<unix.NFTA_LOG_SNAPLEN, Group: group, Snaplen: snap})
}

// installNFLOGRule (re)creates gwd's table in the calling thread's network
// namespace, replacing one a previous gwd left behind.
func installNFLOGRule(group uint16, n, snap uint32, ifaces []string) (*nflogRule, error) {
	c, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("modules.nflog: nftables: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: nftTable}
	// add + delete + add in one batch: no error whether it existed or not.
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	ch := c.AddChain(&nftables.Chain{Name: nftChain, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw})
	if len(ifaces) == 0 {
		ifaces = []string{""}
	}
	for _, ifn := range ifaces {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: ruleExprs(ifn, group, n, snap)})
	}
	if err := c.Flush(); err != nil {
		c.CloseLasting()
		return nil, fmt.Errorf("modules.nflog: installing the nftables sampling rule (table inet %s): %w", nftTable, err)
	}
	return &nflogRule{c: c, table: t}, nil
}

// remove deletes gwd's table.
func (r *nflogRule) remove() error {
	if r == nil {
		return nil
	}
	defer r.c.CloseLasting()
	r.c.DelTable(r.table)
	if err := r.c.Flush(); err != nil {
		return fmt.Errorf("modules.nflog: removing table inet %s: %w", nftTable, err)
	}
	return nil
}
