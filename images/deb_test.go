package images

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestUnitFile: gwd.service has the settings the package promises: restart
// on failure, only CAP_NET_ADMIN and CAP_NET_RAW, a read-only system with
// gwd's run and state directories, no home, no new privileges, a private
// /tmp, and nothing that hides /proc, /sys or the devices NVML opens.
func TestUnitFile(t *testing.T) {
	data, err := os.ReadFile("deb/gwd.service")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			got[k] = append(got[k], v)
		}
	}
	for k, v := range map[string]string{
		"Type": "simple", "ExecStart": "/usr/sbin/gwd run --config /etc/gwd/gwd.yaml", "Restart": "on-failure",
		"CapabilityBoundingSet": "CAP_NET_ADMIN CAP_NET_RAW", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
		"RuntimeDirectory": "gwd", "StateDirectory": "gwd", "ProtectHome": "yes", "PrivateTmp": "yes",
		"WantedBy": "multi-user.target", "Documentation": "man:gwd(8)",
	} {
		if !slices.Equal(got[k], []string{v}) {
			t.Errorf("gwd.service: %s=%v, want %s", k, got[k], v)
		}
	}
	for _, k := range []string{"PrivateDevices", "ProtectProc", "ProcSubset", "User", "DynamicUser", "InaccessiblePaths", "AmbientCapabilities"} {
		if got[k] != nil {
			t.Errorf("gwd.service sets %s (gwd needs /proc, /sys, /dev/nvidia* and root-owned sockets)", k)
		}
	}
	if strings.Contains(string(data), "CAP_SYS_ADMIN=") || strings.Contains(strings.Join(got["CapabilityBoundingSet"], " "), "SYS_ADMIN") {
		t.Errorf("gwd.service grants CAP_SYS_ADMIN")
	}
}

// TestMaintainerScripts: the maintainer scripts and build.sh are valid
// shell; postinst starts the service only where systemd runs, and purge
// removes /etc/gwd.
func TestMaintainerScripts(t *testing.T) {
	for _, f := range []string{"deb/postinst", "deb/prerm", "deb/postrm"} {
		if out, err := exec.Command("sh", "-n", f).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", f, err, out)
		}
		if st, err := os.Stat(f); err != nil || st.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", f)
		}
	}
	if out, err := exec.Command("bash", "-n", "deb/build.sh").CombinedOutput(); err != nil {
		t.Errorf("bash -n deb/build.sh: %v\n%s", err, out)
	}
	postinst, _ := os.ReadFile("deb/postinst")
	if !strings.Contains(string(postinst), "if [ -d /run/systemd/system ]; then") || !strings.Contains(string(postinst), "deb-systemd-helper enable 'gwd.service'") {
		t.Errorf("postinst: enable always, start only under a running systemd")
	}
	postrm, _ := os.ReadFile("deb/postrm")
	if !strings.Contains(string(postrm), "rm -rf /etc/gwd") {
		t.Errorf("postrm: purge does not remove /etc/gwd")
	}
	man, _ := os.ReadFile("deb/gwd.8")
	if !strings.HasPrefix(string(man), ".TH GWD 8 ") {
		t.Errorf("gwd.8 does not start with .TH GWD 8")
	}
}
