package containers

import (
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestScanLayouts(t *testing.T) {
	root := filepath.Join("testdata", "root", "cgroup")
	type got struct{ Key, Dir, Pod string }
	for _, tt := range []struct {
		kind Kind
		ns   []string
		want []got
	}{
		{Docker, nil, []got{
			{idD1, "system.slice/docker-" + idD1 + ".scope", ""},
			{idD2, "docker/" + idD2, ""},
		}},
		{K8s, nil, []got{
			{idK1, "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0b6c4f4e_3d2a_4c1b_9a7e_2f1d5c6b7a80.slice/cri-containerd-" + idK1 + ".scope", "0b6c4f4e-3d2a-4c1b-9a7e-2f1d5c6b7a80"},
			{idK2, "kubepods.slice/kubepods-pod11111111_2222_3333_4444_555555555555.slice/crio-" + idK2 + ".scope", "11111111-2222-3333-4444-555555555555"},
			{idK3, "kubepods/besteffort/pod99999999-8888-7777-6666-555555555555/" + idK3, "99999999-8888-7777-6666-555555555555"},
		}},
		{Containerd, []string{"default", "nonexistent"}, []got{
			{"default/redis", "default/redis", ""},
			{idN1, "system.slice/nerdctl-" + idN1 + ".scope", ""},
		}},
	} {
		t.Run(tt.kind.String(), func(t *testing.T) {
			s := scanner{root: root, kind: tt.kind, namespaces: tt.ns}
			var out []got
			for _, f := range s.scan(nil) {
				rel, _ := filepath.Rel(root, f.dir)
				if f.kind != tt.kind {
					t.Errorf("%s: kind %v", f.key, f.kind)
				}
				out = append(out, got{f.key, rel, f.podUID})
			}
			sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
			sort.Slice(tt.want, func(i, j int) bool { return tt.want[i].Key < tt.want[j].Key })
			if diff := cmp.Diff(tt.want, out); diff != "" {
				t.Errorf("found (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNameParts(t *testing.T) {
	for _, tt := range []struct {
		in   string
		uid  string
		isOK bool
	}{
		{"pod0b6c4f4e-3d2a-4c1b-9a7e-2f1d5c6b7a80", "0b6c4f4e-3d2a-4c1b-9a7e-2f1d5c6b7a80", true},
		{"kubepods-besteffort-pod0b6c4f4e_3d2a_4c1b_9a7e_2f1d5c6b7a80.slice", "0b6c4f4e-3d2a-4c1b-9a7e-2f1d5c6b7a80", true},
		{"kubepods-pod0b6c4f4e_3d2a.slice", "0b6c4f4e-3d2a", true},
		{"kubepods-burstable.slice", "", false},
		{"system-pod1234.slice", "", false},
		{"podXYZ", "", false},
		{"pod", "", false},
	} {
		uid, ok := podUID(tt.in)
		if uid != tt.uid || ok != tt.isOK {
			t.Errorf("podUID(%q) = %q, %v; want %q, %v", tt.in, uid, ok, tt.uid, tt.isOK)
		}
	}
	for _, tt := range []struct{ in, id string }{
		{"cri-containerd-" + idK1 + ".scope", idK1},
		{"crio-" + idK1 + ".scope", idK1},
		{"docker-" + idK1 + ".scope", idK1},
		{idK1, idK1},
		{"crio-conmon-" + idK1 + ".scope", ""},
		{"cri-containerd-" + idK1[:63] + ".scope", ""},
		{"cri-containerd-" + idK1, ""},
	} {
		if id, _ := k8sContainerID(tt.in); id != tt.id {
			t.Errorf("k8sContainerID(%q) = %q, want %q", tt.in, id, tt.id)
		}
	}
	names := k8sNames(filepath.Join("testdata", "root", "logs"))
	if diff := cmp.Diff(map[string]k8sName{idK1: {namespace: "shop", pod: "web-7d4b9c", container: "nginx"}}, names, cmp.AllowUnexported(k8sName{})); diff != "" {
		t.Errorf("k8sNames (-want +got):\n%s", diff)
	}
	if n, h := dockerNames(filepath.Join("testdata", "root", "docker"), idD1); n != "web" || h != "a1a1a1a1a1a1" {
		t.Errorf("dockerNames = %q, %q", n, h)
	}
	if n, h := dockerNames(filepath.Join("testdata", "root", "docker"), idD2); n != "" || h != "" {
		t.Errorf("dockerNames of a container without config = %q, %q", n, h)
	}
}
