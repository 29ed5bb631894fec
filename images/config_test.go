package images

import (
	"bytes"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gwd/asic"
	"gwd/bgp"
	"gwd/config"
	"gwd/gpu"
	"gwd/host"
	"gwd/host/containers"
	"gwd/host/kvm"
	"gwd/internal/app"
	"gwd/ovs"
	"gwd/sample"
	"gwd/web"
)

var update = flag.Bool("update", false, "rewrite deb/gwd.yaml from the keys' descriptions")

// modules are cmd/gwd's modules (TestModulesMatchCommand keeps the two
// lists equal): the configurations shipped here are checked with the same
// sections as `gwd config check`.
var modules = []app.Module{
	host.Module{},
	ovs.Module{},
	kvm.Module{},
	gpu.Module{},
	asic.Module{},
	containers.DockerModule{},
	containers.ContainerdModule{},
	containers.K8sModule{},
	sample.NFLOG,
	sample.Pcap,
	sample.Psample,
	sample.Dropmon,
	bgp.Module{},
	web.Module{},
}

// TestModulesMatchCommand: the module list above is the one of
// cmd/gwd/modules.go, element for element (compared as source text).
func TestModulesMatchCommand(t *testing.T) {
	want := moduleList(t, "../cmd/gwd/modules.go")
	got := moduleList(t, "config_test.go")
	if len(got) != len(modules) {
		t.Fatalf("read %d modules from config_test.go, the list has %d", len(got), len(modules))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("modules of cmd/gwd (-want) and of images/ (+got) differ:\n%s", diff)
	}
}

// moduleList returns the elements of the `modules` list in a Go file, as
// source text ("host.Module{}", "sample.NFLOG").
func moduleList(t *testing.T, path string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var list []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "modules" || len(vs.Values) != 1 {
			return true
		}
		lit, ok := vs.Values[0].(*ast.CompositeLit)
		if !ok {
			t.Fatalf("%s: modules is not a list literal", path)
		}
		for _, e := range lit.Elts {
			list = append(list, types.ExprString(e))
		}
		return false
	})
	if list == nil {
		t.Fatalf("%s: no modules list", path)
	}
	return list
}

// parse checks a shipped configuration as `gwd config check` does: no
// error, no warning.
func parse(t *testing.T, name string, data []byte) *config.Config {
	t.Helper()
	cfg, err := config.Parse(name, data, app.Sections(modules)...)
	if err != nil {
		t.Fatalf("%s: gwd config check fails:\n%v", name, err)
	}
	if len(cfg.Warnings) > 0 {
		t.Errorf("%s: warnings: %v", name, cfg.Warnings)
	}
	return cfg
}

// keyDocs maps each key (agent.address, collectors[].port) to its one-line
// description, from the table docs/config.md is generated from.
func keyDocs(t *testing.T) map[string]string {
	docs := map[string]string{}
	row := regexp.MustCompile("^\\| `([^`]+)` \\| .* \\| (.*) \\|$")
	for _, l := range strings.Split(config.Markdown(app.Sections(modules)), "\n") {
		if m := row.FindStringSubmatch(l); m != nil {
			docs[m[1]] = m[2]
		}
	}
	if len(docs) < 20 {
		t.Fatalf("only %d key descriptions found in config.Markdown", len(docs))
	}
	return docs
}

// active are the top-level keys of the packaged file that are not
// commented out: the built-in default's own settings, so that installing
// the package changes nothing until the file is edited.
var active = []string{"polling", "collectors"}

// commentedDefaults writes the built-in default configuration (every key,
// every default, as `gwd config check` prints it) with each key's
// description above it and every key but those in active commented out.
func commentedDefaults(t *testing.T) string {
	docs := keyDocs(t)
	text := config.Default(app.Sections(modules)...).Text()
	var b strings.Builder
	b.WriteString(`# /etc/gwd/gwd.yaml: gwd's configuration (gwd YAML; an hsflowd.conf works too).
#
# Every key is here with its default and description; a commented key keeps
# its default. Uncomment and edit, then check the file and reload gwd:
#   gwd config check --config /etc/gwd/gwd.yaml
#   systemctl reload gwd
# All keys, types and the hsflowd.conf mapping: docs/config.md in gwd's source.
# (Generated from the keys' descriptions: go test ./images -run TestDebConfig -update)
`)
	type level struct {
		indent int
		name   string
	}
	var stack []level
	on := false
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if strings.HasPrefix(l, "#") || l == "" {
			continue
		}
		body := strings.TrimLeft(l, " ")
		indent := len(l) - len(body)
		if indent == 0 {
			name, _, _ := strings.Cut(body, ":")
			on = slices.Contains(active, name)
			b.WriteString("\n")
		}
		dash := strings.HasPrefix(body, "- ")
		key, _, isKey := strings.Cut(strings.TrimPrefix(body, "- "), ":")
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		if dash {
			stack = append(stack, level{indent, "[]"})
		}
		if isKey && !strings.ContainsAny(key, " /") {
			var names []string
			for _, s := range stack {
				names = append(names, s.name)
			}
			path := strings.ReplaceAll(strings.Join(append(names, key), "."), ".[]", "[]")
			if d, ok := docs[path]; ok {
				d = strings.ReplaceAll(d, "`", "")
				pad := strings.Repeat(" ", indent)
				if dash {
					pad += "  "
				}
				if on {
					b.WriteString(pad + "# " + d + "\n")
				} else {
					b.WriteString("#" + pad + "# " + d + "\n")
				}
			}
			ind := indent
			if dash {
				ind += 2
			}
			stack = append(stack, level{ind, key})
		}
		if on {
			b.WriteString(l + "\n")
		} else {
			b.WriteString("#" + l + "\n")
		}
	}
	return b.String()
}

// TestDebConfig: the package's /etc/gwd/gwd.yaml is generated from the
// keys' descriptions (-update rewrites it) and is unchanged; gwd config
// check accepts it and it means exactly the built-in default; with every
// key uncommented it still does (the commented values are the defaults).
func TestDebConfig(t *testing.T) {
	const path = "deb/gwd.yaml"
	want := commentedDefaults(t)
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Fatalf("%s is out of date (go test ./images -run TestDebConfig -update); -want +got:\n%s", path, diff)
	}
	def := config.Default(app.Sections(modules)...).Text()
	if diff := cmp.Diff(def, parse(t, path, got).Text()); diff != "" {
		t.Errorf("%s does not mean the built-in default; -want +got:\n%s", path, diff)
	}
	var all bytes.Buffer
	keyLine := regexp.MustCompile(`^#( *(- )?[a-z0-9_]+:| *- )`)
	for _, l := range strings.Split(string(got), "\n") {
		if keyLine.MatchString(l) {
			l = l[1:]
		}
		all.WriteString(l + "\n")
	}
	if diff := cmp.Diff(def, parse(t, path+" (all uncommented)", all.Bytes()).Text()); diff != "" {
		t.Errorf("%s uncommented does not mean the built-in default; -want +got:\n%s", path, diff)
	}
	if strings.Count(all.String(), "\n") <= strings.Count(def, "\n") {
		t.Errorf("%s: fewer lines than keys", path)
	}
}
