package testbed

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"gwd/internal/testutil"
)

// TestEveryIntegrationTestCallsIntegration: each TestIntegration* function
// of the repository begins with testbed.Integration(t), so that -short
// skips it (and -short with GWD_REQUIRE_INTEGRATION=1 fails it).
func TestEveryIntegrationTestCallsIntegration(t *testing.T) {
	root := testutil.RepoRoot(t)
	fset := token.NewFileSet()
	found := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "TestIntegration") {
				continue
			}
			found++
			if !startsWithIntegration(fn) {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s: %s does not begin with testbed.Integration(t)", rel, fn.Name.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 10 {
		t.Fatalf("found only %d integration tests under %s", found, root)
	}
}

func startsWithIntegration(fn *ast.FuncDecl) bool {
	if fn.Body == nil || len(fn.Body.List) == 0 || len(fn.Type.Params.List) != 1 || len(fn.Type.Params.List[0].Names) != 1 {
		return false
	}
	st, ok := fn.Body.List[0].(*ast.ExprStmt)
	if !ok {
		return false
	}
	call, ok := st.X.(*ast.CallExpr)
	if !ok || len(call.Args) != 1 {
		return false
	}
	if arg, ok := call.Args[0].(*ast.Ident); !ok || arg.Name != fn.Type.Params.List[0].Names[0].Name {
		return false
	}
	switch f := call.Fun.(type) {
	case *ast.Ident: // inside package testbed
		return f.Name == "Integration"
	case *ast.SelectorExpr:
		pkg, ok := f.X.(*ast.Ident)
		return ok && pkg.Name == "testbed" && f.Sel.Name == "Integration"
	}
	return false
}
