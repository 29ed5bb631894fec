package containers

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxConfigBytes bounds the docker config.v2.json read for a name.
const maxConfigBytes = 1 << 20

// dockerNames reads the container's name ("Name", without its leading
// slash) and hostname ("Config.Hostname") from
// <dockerRoot>/containers/<id>/config.v2.json. Either is "" when the file
// is missing, unreadable, too large or not JSON.
func dockerNames(dockerRoot, id string) (name, hostname string) {
	if dockerRoot == "" {
		return "", ""
	}
	f, err := os.Open(filepath.Join(dockerRoot, "containers", id, "config.v2.json"))
	if err != nil {
		return "", ""
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil || len(b) > maxConfigBytes {
		return "", ""
	}
	var v struct {
		Name   string
		Config struct{ Hostname string }
	}
	if json.Unmarshal(b, &v) != nil {
		return "", ""
	}
	return strings.TrimPrefix(v.Name, "/"), v.Config.Hostname
}

// k8sName is a Kubernetes container's names.
type k8sName struct{ namespace, pod, container string }

func (n k8sName) String() string { return n.namespace + "/" + n.pod + "/" + n.container }

// k8sNames maps container IDs to their names from the kubelet's log
// links: <logDir>/<pod>_<namespace>_<container>-<64 hex id>.log (pod and
// namespace names cannot contain '_'; container names cannot either). One
// directory read covers every container of the node; a missing directory
// gives no names.
func k8sNames(logDir string) map[string]k8sName {
	if logDir == "" {
		return nil
	}
	f, err := os.Open(logDir)
	if err != nil {
		return nil
	}
	defer f.Close()
	names, _ := f.Readdirnames(maxPerScan)
	out := make(map[string]k8sName, len(names))
	for _, n := range names {
		n, ok := strings.CutSuffix(n, ".log")
		if !ok || len(n) < 66 || n[len(n)-65] != '-' {
			continue
		}
		id := n[len(n)-64:]
		parts := strings.Split(n[:len(n)-65], "_")
		if !isHexID(id) || len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			continue
		}
		out[id] = k8sName{pod: parts[0], namespace: parts[1], container: parts[2]}
	}
	return out
}

// shortID is the 12-character form runtimes print.
func shortID(id string) string {
	if isHexID(id) {
		return id[:12]
	}
	return id
}
