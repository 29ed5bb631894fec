# gwd: the box's one sFlow v5 agent.
GO        ?= go
BIN       := bin/gwd
PKGS      := ./...
FUZZTIME  ?= 30s
BENCHTIME ?= 1s

.PHONY: all build deb run test test-short test-deps bench fuzz lint generate check-generated clean footprint scale gpu-check

all: build

# go-nvml's cgo package (gpu/) includes NVML's header, which marks the
# functions NVML 13 deprecated; its bindings call them all, so gcc prints
# a warning for each (some 80 lines) whenever that package is compiled:
# noise about the library's own calls, not about ours. Keep Go's default
# C flags and turn that one diagnostic off. (Exported: go vet, go test and
# the scripts run from here compile the package too. An own CGO_CFLAGS in
# the environment is kept and extended.)
CGO_CFLAGS ?= -O2 -g
ifeq ($(findstring -Wno-deprecated-declarations,$(CGO_CFLAGS)),)
CGO_CFLAGS += -Wno-deprecated-declarations
endif
export CGO_CFLAGS

# Internal linking keeps the cgo build (NVML) from touching ~5 MB more of the
# binary at start-up through the system linker's relocations (RSS 21 -> 16 MB).
# `gwd version` prints version, commit and build date; the date is the last
# commit's (git log -1 --format=%cI), not the wall clock, so that a build of a
# commit is reproducible.
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE      ?= $(shell git log -1 --format=%cI 2>/dev/null || echo unknown)
LDFLAGS   := -linkmode=internal -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/gwd

# The Debian package DEBDIR/gwd_<version>_<arch>.deb (images/deb/, built
# with dpkg-deb): /usr/sbin/gwd, /etc/gwd/gwd.yaml, the systemd unit, gwd(8).
DEBDIR ?= bin
deb: build
	./images/deb/build.sh $(BIN) '$(VERSION)' '$(DATE)' $(DEBDIR)

# Runs the agent in the foreground on the built-in default configuration
# (config/default.yaml, embedded in the binary): host and interface counters
# every 10 s to 127.0.0.1:6343. Watch them with: bin/gwd decode -p 6343
run: build
	./$(BIN) run --config config/default.yaml

# Everything the tests need on a fresh Debian 12 machine (root), then the tests.
test: test-deps check-generated lint
	$(GO) test -count=1 $(PKGS)

# The quick loop: no integration tests (they need root and real
# components), fewer iterations in the long property tests. Under a minute
# on two cores once the build cache is warm.
test-short:
	$(GO) test -short -count=1 $(PKGS)

test-deps:
	./scripts/install-test-deps.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./sflow/...

# Each fuzz target for FUZZTIME (go test runs one target per invocation).
fuzz:
	./scripts/fuzz-all.sh $(FUZZTIME)

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@out=$$($(GO) list -f '{{if not .Doc}}{{.ImportPath}}{{end}}' $(PKGS)); if [ -n "$$out" ]; then echo "package doc comment missing:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

# The codec from sflow/spec/, and docs/config.md from the keys' descriptions.
generate:
	$(GO) generate ./sflow/...
	$(GO) test ./cmd/gwd -run '^TestConfigDocs$$' -update

# The generated files must match the structure table.
check-generated:
	cd sflow && $(GO) run ./internal/gen -spec spec -out . -fmt sflowfmt -docs ../docs/records.md -check

clean:
	rm -rf bin

# RSS and CPU time of `gwd run` over 60 s at polling 5 s (docs/performance.md).
footprint: build
	./scripts/footprint.sh 60

# gwd polling N veth interfaces (two namespaces) at 1 s for SECONDS, side by
# side with hsflowd when /usr/local/sbin/hsflowd-ref is installed (root).
N       ?= 1024
SECONDS ?= 30
scale: build
	./scripts/scale.sh $(N) $(SECONDS)

# Runs gwd against the real NVML for 30 s at polling 5 s (needs an NVIDIA
# GPU, its driver, and a cgo build) and prints the decoded 5703:1 records.
gpu-check: build
	./scripts/gpu-check.sh 30
