package agent

import (
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
)

// Virtual entities (VMs, containers) get data sources 3:(EntityBase + h),
// h = FNV-1a 32 of the entity's key (its UUID or container ID, lower case)
// mod EntitySpan, probing to the next free slot on a collision. The same
// key gets the same index on every start of gwd unless another entity took
// its slot first (a collision, about 1 in 50,000 per pair of entities).
const (
	EntityBase = 100000
	EntitySpan = 50000
)

// entityTable is the agent's map of entity keys to data-source indexes and
// of devices (by PCI address) to the entity they are passed through to.
type entityTable struct {
	mu      sync.Mutex
	byKey   map[string]uint32 // key -> index
	byIndex map[uint32]string // index -> key
	devices map[string]DataSource
}

// EntityHash is the home slot of key, before probing: EntityBase +
// FNV-1a(lower-case key) mod EntitySpan.
func EntityHash(key string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(key)))
	return EntityBase + h.Sum32()%EntitySpan
}

// ClaimEntity returns the data source of the virtual entity named by key
// (a VM's UUID, a container's ID), 3:(EntityBase + n), claiming a slot on
// the first call and returning the same one on later calls until
// ReleaseEntity. Modules sharing the range (VMs, containers) cannot collide:
// the agent probes past slots other keys hold. It fails only when all
// EntitySpan slots are taken.
func (a *Agent) ClaimEntity(key string) (DataSource, error) {
	key = strings.ToLower(key)
	t := &a.entities
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byKey == nil {
		t.byKey, t.byIndex = map[string]uint32{}, map[uint32]string{}
	}
	if i, ok := t.byKey[key]; ok {
		return DataSource{Type: 3, Index: i}, nil
	}
	home := EntityHash(key) - EntityBase
	for n := uint32(0); n < EntitySpan; n++ {
		i := EntityBase + (home+n)%EntitySpan
		if _, taken := t.byIndex[i]; !taken {
			t.byKey[key], t.byIndex[i] = i, key
			return DataSource{Type: 3, Index: i}, nil
		}
	}
	return DataSource{}, fmt.Errorf("agent: all %d virtual-entity data sources are taken; %q gets none", EntitySpan, key)
}

// ReleaseEntity frees key's slot (the entity is gone for good: after the
// module's own grace period). Releasing an unknown key does nothing.
func (a *Agent) ReleaseEntity(key string) {
	key = strings.ToLower(key)
	t := &a.entities
	t.mu.Lock()
	defer t.mu.Unlock()
	if i, ok := t.byKey[key]; ok {
		delete(t.byKey, key)
		delete(t.byIndex, i)
	}
}

// SetDeviceOwner records that the device at PCI address pci (such as
// "0000:3b:00.0") is passed through to the entity with data source ds: a
// source that reports on such devices (GPUs) puts its counters on ds's
// sample instead of the host's. ds zero clears it. pci is compared in
// lower case.
func (a *Agent) SetDeviceOwner(pci string, ds DataSource) {
	pci = strings.ToLower(pci)
	t := &a.entities
	t.mu.Lock()
	defer t.mu.Unlock()
	if ds == (DataSource{}) {
		delete(t.devices, pci)
		return
	}
	if t.devices == nil {
		t.devices = map[string]DataSource{}
	}
	t.devices[pci] = ds
}

// DeviceOwner is the data source the device at PCI address pci is passed
// through to, if any (see SetDeviceOwner).
func (a *Agent) DeviceOwner(pci string) (DataSource, bool) {
	t := &a.entities
	t.mu.Lock()
	defer t.mu.Unlock()
	ds, ok := t.devices[strings.ToLower(pci)]
	return ds, ok
}
