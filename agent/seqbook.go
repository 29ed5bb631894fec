package agent

import "slices"

// Sequence numbers and the life of a data source.
//
// A collector detects lost samples, and agent restarts, from the sample
// sequence numbers of each data source, so gwd never lets them go
// backwards while it runs, whoever registers the data source and however
// often: an OVS port that loses its ifindex while ovsdb-server restarts, a
// VM that migrates away and back, a GPU that falls off the bus.
//
//   - Counter samples: while a data source has contributors, its sequence
//     number lives in its slot (with its polling phase). When the last
//     contributor unregisters, the slot stays for Config.ForgetAfter (the
//     grace period, 3 polling intervals by default) and nothing is sent for
//     it: there is nothing to poll. Registered again within the grace
//     period, it keeps its slot, phase and sequence, as if it had never
//     left. After the grace period the slot is freed and its last sequence
//     number moves to a seqBook; a later registration continues from it
//     with a new phase.
//   - Flow samples: SubmitFlow numbers them per data source, in a second
//     seqBook, independently of any registration.
//
// gwd has one sub-agent (Config.SubAgent), so a data source id is the key.
// A seqBook holds at most seqBookLimit entries (about 30 bytes each, 2 MB
// at most); beyond that it forgets the entries least recently touched. Only
// a data source that stayed away while more than seqBookLimit others came
// and went (or, for flows, sent more recently) restarts at 1.

// seqBookLimit bounds each seqBook.
const seqBookLimit = 1 << 16

// seqBook remembers the last sequence number of data sources, for the life
// of the process, up to limit entries (seqBookLimit when 0). The zero
// value is ready to use.
type seqBook struct {
	m     map[DataSource]seqMark
	clock uint64 // counts puts: a seqMark's age
	limit int
}

type seqMark struct {
	seq     uint32
	touched uint64 // the book's clock at the last put
}

// get is ds's last sequence number, 0 when unknown.
func (b *seqBook) get(ds DataSource) uint32 { return b.m[ds].seq }

// take returns ds's last sequence number and forgets it.
func (b *seqBook) take(ds DataSource) uint32 {
	s := b.m[ds].seq
	delete(b.m, ds)
	return s
}

// put records seq as ds's last sequence number.
func (b *seqBook) put(ds DataSource, seq uint32) {
	if b.m == nil {
		b.m = map[DataSource]seqMark{}
	}
	b.clock++
	b.m[ds] = seqMark{seq: seq, touched: b.clock}
	limit := b.limit
	if limit <= 0 {
		limit = seqBookLimit
	}
	if len(b.m) > limit {
		b.evict(limit - limit/8)
	}
}

// evict forgets the least recently touched entries until keep are left
// (in one go, so that the sort is paid once per limit/8 puts).
func (b *seqBook) evict(keep int) {
	ages := make([]uint64, 0, len(b.m))
	for _, m := range b.m {
		ages = append(ages, m.touched)
	}
	slices.Sort(ages)
	cut := ages[len(ages)-keep] // touched values are unique: keep exactly keep
	for ds, m := range b.m {
		if m.touched < cut {
			delete(b.m, ds)
		}
	}
}

// len is the number of entries.
func (b *seqBook) len() int { return len(b.m) }
