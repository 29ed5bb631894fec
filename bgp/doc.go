// Package bgp is gwd's BGP module: an embedded gobgp speaker peers with
// the box's router (configured sessions, never announcing anything), its
// best paths feed a compact longest-prefix-match table of gwd's own
// (table.go, lpm.go), and an agent flow enricher (enrich.go) adds
// extended_router (0:1002) and extended_gateway (0:1003) records to every
// flow sample whose sampled header holds an IPv4 or IPv6 packet covered by
// a route, source or destination.
//
// gobgp's API types stay inside this package (speaker.go converts a best
// path into a Route); its logger is routed to gwd's slog one level
// quieter (logger.go). The package does no work at init: gobgp starts,
// and the table is allocated, only when Start is called with sessions.
//
// Enrichment is lock-free and, in steady state, allocation-free: see
// Enricher for how the records handed to the agent stay valid until it
// encodes them. A closed session's routes go with it (gobgp withdraws its
// best paths; the speaker sweeps what is left), so samples stop being
// enriched from stale routes.
package bgp
