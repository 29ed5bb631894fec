// Package sflow is the sFlow version 5 wire format: datagrams, the five
// standard sample types, the sFlow-RT ones (4300:1002 rtmetric, 4300:1003
// rtflow) and every flow and counter record that gwd knows, decoded from
// bytes into Go values and encoded back.
//
// It is bytes <-> structs and nothing else. The record types, their decoders,
// encoders and printers are generated from spec/*.spec (run `go generate
// ./sflow/...`), so a structure is described once and encode and decode can
// never disagree. A datagram whose version is not 5 fails with a
// *VersionError that names the version.
//
// Decoding is bounded: every count and length is checked against the bytes
// that remain and against the spec's maxima before anything is allocated, and
// every record is read inside its declared length. Unknown samples and records
// are kept as opaque bytes. A Decoder reuses its memory, so decoding in steady
// state allocates nothing; the values it returns (and the byte slices inside
// them, which alias the input) are valid until the next call.
package sflow

//go:generate go run ./internal/gen -spec spec -out . -fmt sflowfmt -docs ../docs/records.md
