package app

import (
	"fmt"
	"io"
	"strings"

	"gwd/agent"
	"gwd/config"
)

// maxListed bounds the data sources the summary lists one by one (a box
// with thousands of links gets a count).
const maxListed = 32

// Summary writes what gwd is doing, for the start of `gwd run`: the agent
// address, the data sources (named by the modules), the collectors and the
// state of every module.
func (r *Runtime) Summary(w io.Writer, header string) {
	fmt.Fprintln(w, header)
	e := r.agent.Address()
	if e.Addr.IsValid() {
		fmt.Fprintf(w, "  agent address   %s (%s)\n", e.Addr, e.Reason)
	} else {
		fmt.Fprintf(w, "  agent address   none: %s; nothing is sent until one appears\n", e.Reason)
	}
	dss := r.agent.DataSources()
	keys := make([]agent.DataSource, 0, len(dss))
	for ds := range dss {
		keys = append(keys, ds)
	}
	agent.SortDataSources(keys)
	fmt.Fprintf(w, "  data sources    %d\n", len(keys))
	labels := r.Labels()
	for i, ds := range keys {
		if i == maxListed {
			fmt.Fprintf(w, "    ... and %d more\n", len(keys)-maxListed)
			break
		}
		what := strings.Join(dss[ds], "+")
		if l := labels[ds]; l != "" {
			what += ", " + l
		}
		fmt.Fprintf(w, "    %-12s %s\n", ds, what)
	}
	cs := r.agent.Collectors()
	fmt.Fprintf(w, "  collectors      %d\n", len(cs))
	for _, c := range cs {
		fmt.Fprintf(w, "    %s\n", c.Collector)
	}
	for _, st := range r.Status() {
		state := "not running"
		switch {
		case st.Running:
			state = "running"
		case st.Mode == config.Off:
			state = "off"
		}
		line := fmt.Sprintf("  %-15s %s (enabled: %s)", st.Name, state, st.Mode)
		if st.Detail != "" && st.Mode != config.Off {
			line += ": " + st.Detail
		}
		fmt.Fprintln(w, line)
	}
}
