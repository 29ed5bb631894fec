package containers

import (
	"os"
	"path/filepath"
	"strings"
)

// Kind is the runtime a cgroup layout belongs to; each module selects one.
type Kind uint8

// The kinds, one per module.
const (
	Docker Kind = iota + 1
	Containerd
	K8s
)

func (k Kind) String() string {
	switch k {
	case Docker:
		return "docker"
	case Containerd:
		return "containerd"
	case K8s:
		return "k8s"
	}
	return "unknown"
}

// found is one container's cgroup, as discovery sees it.
type found struct {
	kind Kind
	// key names the entity (agent.ClaimEntity): the container ID, or
	// "<namespace>/<id>" for containerd IDs that are not 64 hex digits
	// (ctr takes any name as ID).
	key string
	id  string
	dir string // absolute cgroup directory
	// podUID is the Kubernetes pod's UID (k8s only), with dashes.
	podUID string
}

// maxPerScan bounds what one scan returns: more containers than data
// sources exist is a broken tree.
const maxPerScan = 50000

// scanner finds containers of some kinds under a cgroup v2 root.
type scanner struct {
	root       string
	kind       Kind
	namespaces []string // containerd: cgroup parents of <id> directories
}

// scan returns the containers found now. Directories that vanish while
// it reads are simply not found.
func (s *scanner) scan(out []found) []found {
	out = out[:0]
	switch s.kind {
	case Docker:
		out = s.scanScopes(out, "system.slice", "docker-")
		out = s.scanFlat(out, "docker", true, "")
	case Containerd:
		out = s.scanScopes(out, "system.slice", "nerdctl-")
		for _, ns := range s.namespaces {
			out = s.scanFlat(out, ns, false, ns)
		}
	case K8s:
		out = s.scanPods(out, filepath.Join(s.root, "kubepods.slice"), 0)
		out = s.scanPods(out, filepath.Join(s.root, "kubepods"), 0)
	}
	return out
}

func readDirNames(dir string) []string {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	ents, _ := f.ReadDir(maxPerScan)
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// scanScopes finds parent/<prefix><64 hex>.scope (systemd driver).
func (s *scanner) scanScopes(out []found, parent, prefix string) []found {
	dir := filepath.Join(s.root, parent)
	for _, n := range readDirNames(dir) {
		if len(out) >= maxPerScan {
			break
		}
		id, ok := strings.CutPrefix(n, prefix)
		if !ok {
			continue
		}
		if id, ok = strings.CutSuffix(id, ".scope"); ok && isHexID(id) {
			out = append(out, found{kind: s.kind, key: id, id: id, dir: filepath.Join(dir, n)})
		}
	}
	return out
}

// scanFlat finds parent/<id> (cgroupfs driver). With hexOnly (docker)
// only 64-hex-digit IDs count; otherwise (containerd) any plausible ID,
// keyed by ns/id unless it is 64 hex digits.
func (s *scanner) scanFlat(out []found, parent string, hexOnly bool, ns string) []found {
	dir := filepath.Join(s.root, parent)
	for _, n := range readDirNames(dir) {
		if len(out) >= maxPerScan {
			break
		}
		hex := isHexID(n)
		if !hex && (hexOnly || !plausibleID(n)) {
			continue
		}
		key := n
		if !hex {
			key = ns + "/" + n
		}
		out = append(out, found{kind: s.kind, key: key, id: n, dir: filepath.Join(dir, n)})
	}
	return out
}

// scanPods walks a kubepods tree: QoS directories (at most two levels),
// pod directories, and the container directories inside pods.
func (s *scanner) scanPods(out []found, dir string, depth int) []found {
	for _, n := range readDirNames(dir) {
		if len(out) >= maxPerScan {
			break
		}
		sub := filepath.Join(dir, n)
		if uid, ok := podUID(n); ok {
			for _, c := range readDirNames(sub) {
				if id, ok := k8sContainerID(c); ok && len(out) < maxPerScan {
					out = append(out, found{kind: K8s, key: id, id: id, dir: filepath.Join(sub, c), podUID: uid})
				}
			}
			continue
		}
		if depth < 1 && isQoSDir(n) {
			out = s.scanPods(out, sub, depth+1)
		}
	}
	return out
}

// isQoSDir tells the QoS class directories of kubepods apart from the rest.
func isQoSDir(n string) bool {
	switch n {
	case "burstable", "besteffort", "kubepods-burstable.slice", "kubepods-besteffort.slice":
		return true
	}
	return false
}

// podUID recognises pod<uid> (cgroupfs) and kubepods-[<qos>-]pod<uid>.slice
// (systemd, dashes of the UID written as underscores), returning the UID
// with dashes.
func podUID(n string) (string, bool) {
	var uid string
	if v, ok := strings.CutPrefix(n, "pod"); ok {
		uid = v
	} else if v, ok := strings.CutSuffix(n, ".slice"); ok {
		i := strings.LastIndex(v, "-pod")
		if !strings.HasPrefix(v, "kubepods-") || i < 0 {
			return "", false
		}
		uid = strings.ReplaceAll(v[i+len("-pod"):], "_", "-")
	} else {
		return "", false
	}
	if len(uid) < 8 || len(uid) > 64 {
		return "", false
	}
	for _, c := range uid {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == '-') {
			return "", false
		}
	}
	return uid, true
}

// k8sContainerID recognises the container directories inside a pod:
// cri-containerd-<id>.scope, crio-<id>.scope, docker-<id>.scope (systemd)
// and <id> (cgroupfs). crio-conmon-<id>.scope is CRI-O's monitor.
func k8sContainerID(n string) (string, bool) {
	if isHexID(n) {
		return n, true
	}
	v, ok := strings.CutSuffix(n, ".scope")
	if !ok {
		return "", false
	}
	for _, p := range []string{"cri-containerd-", "crio-", "docker-"} {
		if id, ok := strings.CutPrefix(v, p); ok && isHexID(id) {
			return id, true
		}
	}
	return "", false
}

// isHexID reports whether id is a full container ID: 64 lower-case hex
// digits.
func isHexID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// plausibleID accepts containerd's IDs (ctr run IMAGE ID): letters,
// digits, '_', '-', '.', at most 76 characters, not starting with a dot,
// and no cgroup interface directory.
func plausibleID(id string) bool {
	if id == "" || len(id) > 76 || id[0] == '.' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
