package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"gwd/agent"
	"gwd/config"
	"gwd/internal/app"
)

// absentSettings points every module at something that is not on this box,
// with the given modes (the web page at an address the box does not have).
func absentSettings(host, ovs, kvm, nvml, asic, web string) string {
	return fmt.Sprintf(`
host: {enabled: %s, proc_root: /nonexistent/proc}
modules:
  ovs: {enabled: %s, ovsdb: "unix:/nonexistent/db.sock"}
  kvm: {enabled: %s, socket: /nonexistent/libvirt-sock-ro}
  nvml: {enabled: %s}
  asic: {enabled: %s, sonic: {db_config: /nonexistent/db.json}, cumulus_dir: /nonexistent/switchd}
  web: {enabled: %s, listen: "203.0.113.77:8008", token: t}
`, host, ovs, kvm, nvml, asic, web)
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
				yaml := absentSettings(modeOf("host"), modeOf("ovs"), modeOf("kvm"), modeOf("nvml"), modeOf("asic"), modeOf("web"))
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
