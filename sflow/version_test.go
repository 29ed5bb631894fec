package sflow

import (
	"errors"
	"testing"
)

// TestVersionError: a first word other than 5 stops the datagram with a
// *VersionError that names the version (errors.Is ErrVersion), and the
// DecodeError's text is that one clear message.
func TestVersionError(t *testing.T) {
	tests := []struct {
		first uint32
		want  string
	}{
		{4, "sflow: sFlow version 4 datagram: only version 5 is decoded"},
		{2, "sflow: sFlow version 2 datagram: only version 5 is decoded"},
		{0x0005001e, "sflow: datagram version 327710 (0x0005001e) is not sFlow version 5; its first two bytes, 5, are the version field of a NetFlow v5 header"},
		{0x00090003, "sflow: datagram version 589827 (0x00090003) is not sFlow version 5; its first two bytes, 9, are the version field of a NetFlow v9 header"},
		{0x000a0054, "sflow: datagram version 655444 (0x000a0054) is not sFlow version 5; its first two bytes, 10, are the version field of a IPFIX (NetFlow v10) header"},
		{0x05000000, "sflow: datagram version 83886080 (0x05000000) is not sFlow version 5"},
		{0, "sflow: datagram version 0 (0x00000000) is not sFlow version 5"},
	}
	for _, tc := range tests {
		b := append(u32s(tc.first), make([]byte, 44)...)
		var d Decoder
		dg, err := d.Decode(b)
		var ve *VersionError
		if !errors.As(err, &ve) || ve.Version != tc.first || !errors.Is(err, ErrVersion) {
			t.Errorf("%#x: error %v, want a *VersionError %d matching ErrVersion", tc.first, err, tc.first)
			continue
		}
		if got := err.Error(); got != tc.want {
			t.Errorf("%#x: Error() = %q\nwant %q", tc.first, got, tc.want)
		}
		if len(dg.Samples) != 0 || dg.AgentAddress.IsValid() {
			t.Errorf("%#x: header or samples decoded after a version error: %+v", tc.first, dg)
		}
	}
}
