package sample

import (
	"testing"

	"golang.org/x/net/bpf"

	"gwd/config"
)

// TestPcapRateBySpeed: the rate of a pcap dev follows hsflowd's rule
// (speed / 1,000,000, at least 100; sampling.<speed> overrides; unknown
// speed: the default rate).
func TestPcapRateBySpeed(t *testing.T) {
	s := config.Sampling{Rate: 400, BPSRatio: config.DefaultBPSRatio, Speeds: map[config.Speed]uint32{}}
	for _, c := range []struct {
		dev  string
		want uint32
	}{{"eth10g", 10000}, {"down", 400}, {"missing", 400}} {
		if got := s.RateFor(linkSpeed("testdata/sys", c.dev)); got != c.want {
			t.Errorf("%s: %d, want %d", c.dev, got, c.want)
		}
	}
	s.Speeds[10_000_000_000] = 2500
	if got := s.RateFor(linkSpeed("testdata/sys", "eth10g")); got != 2500 {
		t.Errorf("with sampling.10G = 2500: %d", got)
	}
}

// TestSamplingProgram checks the program's instructions: a random number
// mod N, 0 passes snap bytes, anything else is dropped. (Its statistics are
// measured in the kernel by TestIntegrationAFPacket.)
func TestSamplingProgram(t *testing.T) {
	prog, err := samplingProgram(10, 128)
	if err != nil {
		t.Fatal(err)
	}
	want := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtRand},
		bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: 10},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0, SkipTrue: 1},
		bpf.RetConstant{Val: 128},
		bpf.RetConstant{Val: 0},
	}
	if len(prog) != len(want) {
		t.Fatalf("%d instructions", len(prog))
	}
	for i, in := range prog {
		got := bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}.Disassemble()
		if got != want[i] {
			t.Errorf("instruction %d: %#v, want %#v", i, got, want[i])
		}
	}
}
