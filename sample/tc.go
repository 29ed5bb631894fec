package sample

import (
	"errors"
	"fmt"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// tcPriority is the priority of gwd's matchall filters (tc's "pref"), so
// that they are told apart from others on the same hook.
const tcPriority = 0xcafe

// tcSampler is the tc configuration gwd added for psample: on each port an
// ingress `matchall action sample rate N group G trunc H` filter (and the
// clsact qdisc when the port had none). remove takes it all away again.
type tcSampler struct {
	h       *vnl.Handle
	filters []vnl.Filter
	qdiscs  []vnl.Qdisc // created by gwd
}

// installTCSample adds the sampling filters in the calling thread's
// network namespace. rate gives each port's 1-in-N.
func installTCSample(ports []string, group, trunc uint32, rate func(port string) uint32) (*tcSampler, error) {
	h, err := vnl.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("modules.psample: netlink: %w", err)
	}
	s := &tcSampler{h: h}
	for _, port := range ports {
		if err := s.add(port, group, trunc, rate(port)); err != nil {
			s.remove()
			return nil, err
		}
	}
	return s, nil
}

func (s *tcSampler) add(port string, group, trunc, rate uint32) error {
	link, err := s.h.LinkByName(port)
	if err != nil {
		return absent("modules.psample: tc port "+port, err)
	}
	idx := link.Attrs().Index
	qs, err := s.h.QdiscList(link)
	if err != nil {
		return fmt.Errorf("modules.psample: %s: listing qdiscs: %w", port, err)
	}
	hasClsact := false
	for _, q := range qs {
		hasClsact = hasClsact || q.Type() == "clsact"
	}
	if !hasClsact {
		q := &vnl.GenericQdisc{QdiscAttrs: vnl.QdiscAttrs{LinkIndex: idx, Handle: vnl.MakeHandle(0xffff, 0),
			Parent: vnl.HANDLE_CLSACT}, QdiscType: "clsact"}
		if err := s.h.QdiscAdd(q); err != nil {
			return fmt.Errorf("modules.psample: %s: adding the clsact qdisc: %w", port, err)
		}
		s.qdiscs = append(s.qdiscs, q)
	}
	act := vnl.NewSampleAction()
	act.Group, act.Rate, act.TruncSize = group, rate, trunc
	f := &vnl.MatchAll{FilterAttrs: vnl.FilterAttrs{LinkIndex: idx, Parent: vnl.HANDLE_MIN_INGRESS,
		Priority: tcPriority, Protocol: unix.ETH_P_ALL}, Actions: []vnl.Action{act}}
	if err := s.h.FilterAdd(f); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
			return absent(fmt.Sprintf("modules.psample: %s: tc matchall action sample (cls_matchall, act_sample)", port), err)
		}
		return fmt.Errorf("modules.psample: %s: adding tc matchall action sample: %w", port, err)
	}
	s.filters = append(s.filters, f)
	return nil
}

// remove deletes the filters and the qdiscs gwd added.
func (s *tcSampler) remove() error {
	if s == nil {
		return nil
	}
	var errs []error
	for _, f := range s.filters {
		if err := s.h.FilterDel(f); err != nil {
			errs = append(errs, fmt.Errorf("modules.psample: deleting tc filter on ifIndex %d: %w", f.Attrs().LinkIndex, err))
		}
	}
	for _, q := range s.qdiscs {
		if err := s.h.QdiscDel(q); err != nil {
			errs = append(errs, fmt.Errorf("modules.psample: deleting clsact on ifIndex %d: %w", q.Attrs().LinkIndex, err))
		}
	}
	s.h.Close()
	return errors.Join(errs...)
}
