package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"

	"gwd/agent"
	"gwd/config"
	"gwd/internal/app"
)

// absentSettings points every module at something that is not on this box,
// with the given modes (the web page at an address the box does not have).
func absentSettings(modeOf func(module string) string) string {
	return fmt.Sprintf(`
host: {enabled: %s, proc_root: /nonexistent/proc}
modules:
  ovs: {enabled: %s, ovsdb: "unix:/nonexistent/db.sock"}
  kvm: {enabled: %s, socket: /nonexistent/libvirt-sock-ro}
  nvml: {enabled: %s}
  asic: {enabled: %s, sonic: {db_config: /nonexistent/db.json}, cumulus_dir: /nonexistent/switchd}
  docker: {enabled: %s, cgroup_root: /nonexistent/cgroup}
  containerd: {enabled: %s, cgroup_root: /nonexistent/cgroup}
  k8s: {enabled: %s, cgroup_root: /nonexistent/cgroup}
  bgp: {enabled: %s}
  web: {enabled: %s, listen: "203.0.113.77:8008", token: t}
`, modeOf("host"), modeOf("ovs"), modeOf("kvm"), modeOf("nvml"), modeOf("asic"),
		modeOf("docker"), modeOf("containerd"), modeOf("k8s"), modeOf("bgp"), modeOf("web"))
}

// absentSampling points the sample modules at what is not on this box (an
// interface that does not exist; psample and NET_DM are absent from the
// kernels gwd is tested on), with the given modes.
func absentSampling(nflog, pcap, psample, dropmon string) string {
	return fmt.Sprintf(`  nflog: {enabled: %s}
  pcap: {enabled: %s, dev: [gwdabsent0]}
  psample: {enabled: %s}
  dropmon: {enabled: %s}
`, nflog, pcap, psample, dropmon)
}

// TestModuleModes runs each real module with its hardware or service
// absent: enabled: true is an error naming the module, auto starts nothing
// and says why, false never touches it.
func TestModuleModes(t *testing.T) {
	for _, m := range modules {
		name := m.Section().Name
		if name == "nvml" {
			if _, err := os.Stat("/dev/nvidiactl"); err == nil {
				t.Log("this box has an NVIDIA driver: nvml is present, its absent case is not tried")
				continue
			}
		}
		if name == "nflog" {
			// NFLOG is in every Linux kernel gwd runs on: it cannot be
			// absent here (its real test is sample's TestIntegrationNFLOG).
			continue
		}
		if (name == "psample" || name == "dropmon") && genlFamilyPresent(name) {
			t.Logf("this kernel has %s: its absent case is not tried", name)
			continue
		}
		for _, mode := range []string{"true", "auto", "false"} {
			if name == "host" && mode == "auto" {
				continue // host has no auto mode: enabled is true or false
			}
			t.Run(name+"/"+mode, func(t *testing.T) {
				modeOf := func(m string) string { // only this module runs
					if m == name {
						return mode
					}
					return "false"
				}
				yaml := absentSettings(modeOf) + absentSampling(modeOf("nflog"), modeOf("pcap"), modeOf("psample"), modeOf("dropmon"))
				cfg, err := config.Parse("x.yaml", []byte(yaml), app.Sections(modules)...)
				if err != nil {
					t.Fatal(err)
				}
				a, err := agent.New(agent.Config{Polling: time.Second}, agent.SystemAddresses{}, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				rt := app.New([]app.Module{m}, a, slog.New(slog.DiscardHandler))
				ctx, cancel := context.WithCancel(context.Background())
				err = rt.Start(ctx, cfg)
				cancel()
				rt.Wait(5 * time.Second)
				st := rt.Status()[0]
				switch mode {
				case "true":
					if err == nil || !strings.HasPrefix(err.Error(), "module "+name+": enabled: true, but not present on this box") {
						t.Errorf("Start error = %v", err)
					}
				case "auto":
					if err != nil || st.Running || st.Detail == "" {
						t.Errorf("Start error = %v, status %+v", err, st)
					}
				case "false":
					if err != nil || st.Running || st.Detail != "off" {
						t.Errorf("Start error = %v, status %+v", err, st)
					}
				}
			})
		}
	}
}

// genlFamilyPresent says whether the kernel has the sample module's
// generic netlink family.
func genlFamilyPresent(module string) bool {
	family := map[string]string{"psample": "psample", "dropmon": "NET_DM"}[module]
	c, err := genetlink.Dial(nil)
	if err != nil {
		return false
	}
	defer c.Close()
	_, err = c.GetFamily(family)
	return err == nil
}
