package gpu

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gwd/agent"
)

func TestErrorMatchesSentinels(t *testing.T) {
	tests := []struct {
		code int
		want []error
		text string
	}{
		{retNotSupported, []error{ErrNotSupported}, "nvmlX: ERROR_NOT_SUPPORTED"},
		{retFunctionNotFound, []error{ErrNotSupported}, "nvmlX: ERROR_FUNCTION_NOT_FOUND"},
		{retGPUIsLost, []error{ErrGPULost}, "nvmlX: ERROR_GPU_IS_LOST"},
		{retLibraryNotFound, []error{ErrLibraryNotFound}, "nvmlX: ERROR_LIBRARY_NOT_FOUND (libnvidia-ml.so.1 could not be loaded"},
		{retDriverNotLoaded, nil, "nvmlX: ERROR_DRIVER_NOT_LOADED (the NVIDIA kernel driver is not loaded)"},
		{4242, nil, "nvmlX: return code 4242"},
	}
	all := []error{ErrNotSupported, ErrGPULost, ErrLibraryNotFound, ErrUnavailable, ErrNotBuiltIn}
	for _, tt := range tests {
		err := error(&Error{Func: "nvmlX", Code: tt.code})
		if !strings.HasPrefix(err.Error(), tt.text) {
			t.Errorf("code %d: %q, want prefix %q", tt.code, err, tt.text)
		}
		wrapped := errors.Join(errors.New("x"), err)
		for _, s := range all {
			want := false
			for _, w := range tt.want {
				want = want || w == s
			}
			if got := errors.Is(wrapped, s); got != want {
				t.Errorf("code %d: errors.Is(%v) = %v, want %v", tt.code, s, got, want)
			}
		}
	}
}

func TestRanges(t *testing.T) {
	for _, tt := range []struct {
		in   []int
		want string
	}{
		{[]int{0}, "0"},
		{[]int{0, 1, 2, 3, 4, 5, 6, 7}, "0-7"},
		{[]int{0, 2, 3, 5}, "0,2-3,5"},
		{[]int{1, 3}, "1,3"},
	} {
		if got := ranges(tt.in); got != tt.want {
			t.Errorf("ranges(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// addFrac carries the remainder: 1/3 of a unit per call adds up exactly.
func TestAddFracCarries(t *testing.T) {
	var rem uint64
	var sum uint32
	for range 3000 {
		sum += addFrac(&rem, 1, 3)
	}
	if sum != 1000 || rem != 0 {
		t.Fatalf("sum %d rem %d, want 1000 0", sum, rem)
	}
	// 37% for 1001 ms, 1000 times: 370370 ms exactly (truncating each
	// second would give 370000).
	rem, sum = 0, 0
	for range 1000 {
		sum += addFrac(&rem, 37*1001_000, 100_000)
	}
	if sum != 370370 {
		t.Fatalf("gpu time %d ms, want 370370", sum)
	}
}

func TestCountDistinct(t *testing.T) {
	if n := countDistinct([]uint32{7, 3, 7, 9, 3}); n != 3 {
		t.Fatalf("countDistinct = %d, want 3", n)
	}
	if n := countDistinct(nil); n != 0 {
		t.Fatalf("countDistinct(nil) = %d", n)
	}
}

// TestRealLibrary runs New, the NVML this build has: without cgo it must
// report "not built in"; with cgo on a box without the NVIDIA driver,
// ERROR_LIBRARY_NOT_FOUND, without a crash and without any other NVML call;
// on a GPU box it must export the GPUs.
func TestRealLibrary(t *testing.T) {
	reg := newFakeReg()
	log, logs := testLog()
	s := New(Config{}, log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := s.Start(ctx, reg)
	if err != nil {
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Start: %v, want ErrUnavailable", err)
		}
		if !errors.Is(err, ErrLibraryNotFound) && !errors.Is(err, ErrNotBuiltIn) {
			t.Logf("NVML failed to initialize for another reason: %v", err)
		}
		if h := reg.Health(SourceName); reg.HealthSets() != 1 || !errors.Is(h, ErrUnavailable) || !strings.Contains(h.Error(), "NVML") {
			t.Fatalf("health %v (%d calls), want one entry naming NVML", h, reg.HealthSets())
		}
		if len(reg.Sources()) != 0 {
			t.Fatalf("registered %v after a failed Init", reg.Sources())
		}
		if logs.Len() != 0 {
			t.Fatalf("Start logged (the agent logs the health change):\n%s", logs)
		}
		select {
		case <-s.Done():
		default:
			t.Fatal("Done not closed after a failed Start")
		}
		t.Logf("no NVML here, as expected: %v", err)
		return
	}
	// A GPU box: three seconds of samples, then the aggregate.
	time.Sleep(3 * time.Second)
	rec, herr := poll(t, reg, agent.HostSource)
	if rec == nil || rec.DeviceCount == 0 {
		t.Fatalf("host record %+v (health %v), want GPUs", rec, herr)
	}
	t.Logf("5703:1 %+v (health %v)", *rec, herr)
	cancel()
	<-s.Done()
}
