package sample

import (
	"errors"
	"strings"
	"testing"

	"gwd/internal/app"
	"gwd/internal/testbed"
)

// TestIntegrationTCSampleAbsent: this kernel has no cls_matchall /
// act_sample (TESTBED.md), so installing psample's tc filter on a real veth
// fails as absent, naming what is missing, and leaves no qdisc behind.
// Where the kernel has them, the filter is added and removed again.
func TestIntegrationTCSampleAbsent(t *testing.T) {
	testbed.Integration(t)
	testbed.NeedCommand(t, "tc")
	a, _, _ := twoNamespaces(t)
	var s *tcSampler
	var err error
	a.Do(t, func() error {
		s, err = installTCSample([]string{"va"}, 3, 128, func(string) uint32 { return 100 })
		return nil
	})
	if err == nil {
		t.Log("this kernel has tc matchall action sample: checking removal")
		if out := a.Exec(t, "tc", "filter", "show", "dev", "va", "ingress"); !strings.Contains(out, "matchall") {
			t.Errorf("no matchall filter: %s", out)
		}
		var rerr error
		a.Do(t, func() error { rerr = s.remove(); return nil })
		if rerr != nil {
			t.Fatal(rerr)
		}
	} else {
		if !errors.Is(err, app.ErrAbsent) || !strings.Contains(err.Error(), "matchall action sample") {
			t.Fatalf("err = %v, want absent naming tc matchall action sample", err)
		}
		t.Logf("as expected here: %v", err)
	}
	if out := a.Exec(t, "tc", "qdisc", "show", "dev", "va"); strings.Contains(out, "clsact") {
		t.Errorf("clsact left behind: %s", out)
	}
	// A port that does not exist is absent too.
	a.Do(t, func() error {
		_, err = installTCSample([]string{"nosuch0"}, 3, 128, func(string) uint32 { return 100 })
		return nil
	})
	if !errors.Is(err, app.ErrAbsent) {
		t.Errorf("missing port: err = %v", err)
	}
}
