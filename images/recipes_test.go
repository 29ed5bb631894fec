package images

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

// parseDockerfile reads a Dockerfile as BuildKit's parser does for the
// subset used here: comments, blank lines, backslash continuations, and
// known instructions only.
func parseDockerfile(data []byte) ([]instruction, error) {
	known := []string{"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
		"VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
	var out []instruction
	var cur *instruction
	for i, l := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(l)
		if cur == nil && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if cur != nil && strings.HasPrefix(t, "#") {
			continue // comments inside a continuation are dropped
		}
		cont := strings.HasSuffix(t, "\\")
		t = strings.TrimSuffix(t, "\\")
		if cur == nil {
			cmd, args, _ := strings.Cut(t, " ")
			cmd = strings.ToUpper(cmd)
			if !slices.Contains(known, cmd) {
				return nil, errors.New("line " + strconv.Itoa(i+1) + ": unknown instruction " + cmd)
			}
			cur = &instruction{line: i + 1, cmd: cmd, args: strings.TrimSpace(args)}
		} else {
			cur.args += " " + strings.TrimSpace(t)
		}
		if !cont {
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		return nil, errors.New("line " + strconv.Itoa(cur.line) + ": continuation at end of file")
	}
	return out, nil
}

// TestDockerfile: images/container/Dockerfile parses; its builder stage
// runs `make build` (a target of the Makefile, writing bin/gwd) with the Go
// version of go.mod; the runtime stage copies that binary, the image's
// gwd.yaml (which `gwd config check` accepts), runs as a non-root user and
// has exec-form ENTRYPOINT and CMD. (The image itself is not built: no
// container engine here.)
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("container/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	ins, err := parseDockerfile(data)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	var stages [][]instruction
	var preamble []instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			preamble = append(preamble, in)
			continue
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if len(stages) != 2 {
		t.Fatalf("Dockerfile: %d stages, want 2 (builder, runtime)", len(stages))
	}
	gomod, _ := os.ReadFile("../go.mod")
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if goVersion == nil || !slices.ContainsFunc(preamble, func(in instruction) bool { return in.args == "GO_VERSION="+string(goVersion[1]) }) {
		t.Errorf("Dockerfile: ARG GO_VERSION is not go.mod's go %s", goVersion[1])
	}
	build, runtime := stages[0], stages[1]
	if !strings.HasSuffix(build[0].args, " AS build") || !strings.HasPrefix(build[0].args, "golang:${GO_VERSION}-bookworm") {
		t.Errorf("builder stage: FROM %s", build[0].args)
	}
	if !slices.ContainsFunc(build, func(in instruction) bool {
		return in.cmd == "RUN" && strings.HasPrefix(in.args, "make build ")
	}) {
		t.Errorf("builder stage does not RUN make build")
	}
	makefile, _ := os.ReadFile("../Makefile")
	if !regexp.MustCompile(`(?m)^build:`).Match(makefile) || !regexp.MustCompile(`(?m)^BIN +:= bin/gwd$`).Match(makefile) {
		t.Errorf("Makefile: no build target writing bin/gwd")
	}
	if runtime[0].args != "debian:12-slim" {
		t.Errorf("runtime stage: FROM %s", runtime[0].args)
	}
	var user, entry, cmd string
	for _, in := range runtime {
		switch in.cmd {
		case "COPY":
			f := strings.Fields(in.args)
			if f[0] == "--from=build" {
				if f[1] != "/src/bin/gwd" || f[2] != "/usr/sbin/gwd" {
					t.Errorf("runtime stage: COPY %s", in.args)
				}
				continue
			}
			if _, err := os.Stat("../" + f[0]); err != nil {
				t.Errorf("runtime stage: COPY %s: %v", in.args, err)
			}
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entry = in.args
		case "CMD":
			cmd = in.args
		}
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("runtime stage: USER %q, want a non-root default", user)
	}
	var e, c []string
	if json.Unmarshal([]byte(entry), &e) != nil || !slices.Equal(e, []string{"/usr/sbin/gwd"}) {
		t.Errorf("ENTRYPOINT %s, want [\"/usr/sbin/gwd\"]", entry)
	}
	if json.Unmarshal([]byte(cmd), &c) != nil || !slices.Equal(c, []string{"run", "--config", "/etc/gwd/gwd.yaml"}) {
		t.Errorf("CMD %s", cmd)
	}
	cfg, _ := os.ReadFile("container/gwd.yaml")
	checkHostRoots(t, "container/gwd.yaml", cfg)
}

// checkHostRoots: a container configuration passes gwd config check and
// reads the host's /proc, /sys and /etc where the recipes mount them.
func checkHostRoots(t *testing.T, name string, data []byte) {
	t.Helper()
	text := parse(t, name, data).Text()
	for _, want := range []string{"proc_root: /host/proc", "sys_root: /host/sys", "etc_root: /host/etc", "    sys_root: /host/sys"} {
		if !strings.Contains(text, want) {
			t.Errorf("%s: %q not in the effective configuration", name, want)
		}
	}
}

// Kubernetes objects, only the fields used; decoding with KnownFields
// makes a misspelt or misplaced key an error, as the API server's strict
// field validation would.
type (
	meta struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	}
	object struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   meta              `yaml:"metadata"`
		Data       map[string]string `yaml:"data"`
		AutoMount  *bool             `yaml:"automountServiceAccountToken"`
		Spec       *daemonSetSpec    `yaml:"spec"`
	}
	daemonSetSpec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		UpdateStrategy struct {
			Type string `yaml:"type"`
		} `yaml:"updateStrategy"`
		Template struct {
			Metadata meta    `yaml:"metadata"`
			Spec     podSpec `yaml:"spec"`
		} `yaml:"template"`
	}
	podSpec struct {
		ServiceAccountName string `yaml:"serviceAccountName"`
		AutoMount          *bool  `yaml:"automountServiceAccountToken"`
		HostNetwork        bool   `yaml:"hostNetwork"`
		DNSPolicy          string `yaml:"dnsPolicy"`
		PriorityClassName  string `yaml:"priorityClassName"`
		Tolerations        []struct {
			Operator string `yaml:"operator"`
			Key      string `yaml:"key"`
			Effect   string `yaml:"effect"`
		} `yaml:"tolerations"`
		Containers []container `yaml:"containers"`
		Volumes    []struct {
			Name      string `yaml:"name"`
			ConfigMap *struct {
				Name string `yaml:"name"`
			} `yaml:"configMap"`
			HostPath *struct {
				Path string `yaml:"path"`
				Type string `yaml:"type"`
			} `yaml:"hostPath"`
		} `yaml:"volumes"`
	}
	container struct {
		Name            string   `yaml:"name"`
		Image           string   `yaml:"image"`
		ImagePullPolicy string   `yaml:"imagePullPolicy"`
		Args            []string `yaml:"args"`
		Env             []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"env"`
		Resources struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext struct {
			RunAsUser                *int64 `yaml:"runAsUser"`
			RunAsGroup               *int64 `yaml:"runAsGroup"`
			Privileged               *bool  `yaml:"privileged"`
			AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
				Add  []string `yaml:"add"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		ReadinessProbe *struct {
			Exec *struct {
				Command []string `yaml:"command"`
			} `yaml:"exec"`
			PeriodSeconds int `yaml:"periodSeconds"`
		} `yaml:"readinessProbe"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	}
)

func decodeObject(t *testing.T, path string) object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var o object
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := dec.Decode(&object{}); !errors.Is(err, io.EOF) {
		t.Fatalf("%s: want one object (%v)", path, err)
	}
	if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" || o.Metadata.Namespace == "" {
		t.Errorf("%s: apiVersion, kind, metadata.name and namespace are required: %+v", path, o)
	}
	return o
}

// TestKubernetes: the ServiceAccount, ConfigMap and DaemonSet of k8s/
// decode strictly as those objects with their required fields; the
// DaemonSet refers to the other two, runs on the host network on every
// node with only NET_ADMIN and NET_RAW, requests resources, probes with a
// command the image has, mounts every volume it declares where the
// ConfigMap's gwd.yaml reads the host; `gwd config check` accepts that
// gwd.yaml.
func TestKubernetes(t *testing.T) {
	sa := decodeObject(t, "k8s/serviceaccount.yaml")
	cm := decodeObject(t, "k8s/configmap.yaml")
	ds := decodeObject(t, "k8s/daemonset.yaml")
	for _, c := range []struct {
		o          object
		api, kind  string
		wantSpec   bool
		wantData   bool
		wantNoAuto bool
	}{{sa, "v1", "ServiceAccount", false, false, true}, {cm, "v1", "ConfigMap", false, true, false}, {ds, "apps/v1", "DaemonSet", true, false, false}} {
		if c.o.APIVersion != c.api || c.o.Kind != c.kind || (c.o.Spec != nil) != c.wantSpec || (c.o.Data != nil) != c.wantData {
			t.Errorf("%s %s: want %s %s", c.o.APIVersion, c.o.Kind, c.api, c.kind)
		}
		if c.wantNoAuto && (c.o.AutoMount == nil || *c.o.AutoMount) {
			t.Errorf("%s: automountServiceAccountToken should be false (gwd never calls the API)", c.kind)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	checkHostRoots(t, "k8s/configmap.yaml gwd.yaml", []byte(cm.Data["gwd.yaml"]))

	spec := ds.Spec
	for k, v := range spec.Selector.MatchLabels {
		if spec.Template.Metadata.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod template's labels", k, v)
		}
	}
	if len(spec.Selector.MatchLabels) == 0 {
		t.Errorf("DaemonSet: empty selector")
	}
	pod := spec.Template.Spec
	if pod.ServiceAccountName != sa.Metadata.Name || sa.Metadata.Namespace != ds.Metadata.Namespace || cm.Metadata.Namespace != ds.Metadata.Namespace {
		t.Errorf("DaemonSet: service account %q (want %q), namespaces %s %s %s", pod.ServiceAccountName, sa.Metadata.Name, sa.Metadata.Namespace, cm.Metadata.Namespace, ds.Metadata.Namespace)
	}
	if !pod.HostNetwork || pod.DNSPolicy != "ClusterFirstWithHostNet" {
		t.Errorf("DaemonSet: hostNetwork %v, dnsPolicy %q", pod.HostNetwork, pod.DNSPolicy)
	}
	if len(pod.Tolerations) != 1 || pod.Tolerations[0].Operator != "Exists" || pod.Tolerations[0].Key != "" || pod.Tolerations[0].Effect != "" {
		t.Errorf("DaemonSet: tolerations %+v, want one {operator: Exists} (every node)", pod.Tolerations)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("DaemonSet: %d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Name == "" || c.Image == "" || !slices.Equal(c.Args, []string{"run", "--config", "/etc/gwd/gwd.yaml"}) {
		t.Errorf("container: name %q image %q args %v", c.Name, c.Image, c.Args)
	}
	for _, m := range []map[string]string{c.Resources.Requests, c.Resources.Limits} {
		if m["cpu"] == "" || m["memory"] == "" {
			t.Errorf("container: resources need cpu and memory requests and limits: %+v", c.Resources)
		}
	}
	sc := c.SecurityContext
	if sc.Privileged == nil || *sc.Privileged || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		!slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || !slices.Equal(sc.Capabilities.Add, []string{"NET_ADMIN", "NET_RAW"}) {
		t.Errorf("container: securityContext %+v, want unprivileged, read-only, drop ALL, add NET_ADMIN NET_RAW", sc)
	}
	if p := c.ReadinessProbe; p == nil || p.Exec == nil || !slices.Equal(p.Exec.Command, []string{"/usr/sbin/gwd", "version"}) {
		t.Errorf("container: readinessProbe %+v, want exec /usr/sbin/gwd version", p)
	}
	volumes := map[string]string{}
	for _, v := range pod.Volumes {
		switch {
		case v.ConfigMap != nil:
			if v.ConfigMap.Name != cm.Metadata.Name {
				t.Errorf("volume %s: ConfigMap %q, want %q", v.Name, v.ConfigMap.Name, cm.Metadata.Name)
			}
			volumes[v.Name] = "configmap"
		case v.HostPath != nil:
			volumes[v.Name] = v.HostPath.Path
		default:
			t.Errorf("volume %s: no source", v.Name)
		}
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		src, ok := volumes[m.Name]
		if !ok {
			t.Errorf("volumeMount %s: no such volume", m.Name)
		}
		mounts[m.MountPath] = src
		if strings.HasPrefix(m.MountPath, "/host/") && !m.ReadOnly {
			t.Errorf("volumeMount %s: host %s should be read-only", m.Name, src)
		}
	}
	for path, src := range map[string]string{"/etc/gwd": "configmap", "/host/proc": "/proc", "/host/sys": "/sys", "/host/etc": "/etc",
		"/var/run/openvswitch": "/var/run/openvswitch", "/run/gwd": "/run/gwd"} {
		if mounts[path] != src {
			t.Errorf("mount %s: from %q, want %q", path, mounts[path], src)
		}
	}
	if len(mounts) != len(volumes) {
		t.Errorf("%d volumes, %d mounted", len(volumes), len(mounts))
	}
}

// TestReadmeYAML: every ```yaml block of the notes in images/ is a
// configuration `gwd config check` accepts.
func TestReadmeYAML(t *testing.T) {
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	n := 0
	for _, path := range []string{"sonic/README.md", "container/README.md"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range block.FindAllSubmatch(data, -1) {
			parse(t, path+" block "+strconv.Itoa(i+1), m[1])
			n++
		}
	}
	if n < 2 {
		t.Errorf("found %d yaml blocks, want the SONiC notes' two", n)
	}
}
