package agent

import (
	"fmt"
	"testing"
)

func TestClaimEntity(t *testing.T) {
	a, err := New(Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	const uuid = "4DEA22B3-1D52-D8F3-2516-782E98AB3FA0"
	ds, err := a.ClaimEntity(uuid)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Type != 3 || ds.Index != EntityHash(uuid) {
		t.Fatalf("first claim of %s: %v, want 3:%d", uuid, ds, EntityHash(uuid))
	}
	if ds.Index < EntityBase || ds.Index >= EntityBase+EntitySpan {
		t.Fatalf("%v outside 3:%d..%d", ds, EntityBase, EntityBase+EntitySpan-1)
	}
	// Case does not matter; a second claim returns the same slot.
	if again, _ := a.ClaimEntity("4dea22b3-1d52-d8f3-2516-782e98ab3fa0"); again != ds {
		t.Fatalf("second claim: %v, want %v", again, ds)
	}
	// Find a key that collides with uuid and check it probes to the next slot.
	var other string
	for i := 0; i < 10_000_000 && other == ""; i++ {
		k := fmt.Sprintf("container-%d", i)
		if EntityHash(k) == ds.Index {
			other = k
		}
	}
	if other == "" {
		t.Fatal("no colliding key found in 10M tries")
	}
	ods, err := a.ClaimEntity(other)
	if err != nil {
		t.Fatal(err)
	}
	want := EntityBase + (ds.Index-EntityBase+1)%EntitySpan
	if ods.Index != want {
		t.Fatalf("colliding key %s: %v, want 3:%d", other, ods, want)
	}
	// Released, the home slot goes to the next claimant.
	a.ReleaseEntity(uuid)
	a.ReleaseEntity("never-claimed")
	third, _ := a.ClaimEntity("container-other")
	if third.Index == ods.Index {
		t.Fatalf("two keys share %v", third)
	}
	if again, _ := a.ClaimEntity(uuid); again != ds {
		t.Fatalf("reclaim after release: %v, want its home %v", again, ds)
	}
}

func TestDeviceOwner(t *testing.T) {
	a, err := New(Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.DeviceOwner("0000:3b:00.0"); ok {
		t.Fatal("owner before any was set")
	}
	vm := DataSource{Type: 3, Index: 100123}
	a.SetDeviceOwner("0000:3B:00.0", vm)
	if ds, ok := a.DeviceOwner("0000:3b:00.0"); !ok || ds != vm {
		t.Fatalf("DeviceOwner = %v, %v; want %v", ds, ok, vm)
	}
	a.SetDeviceOwner("0000:3b:00.0", DataSource{})
	if _, ok := a.DeviceOwner("0000:3b:00.0"); ok {
		t.Fatal("owner still set after clearing")
	}
}
