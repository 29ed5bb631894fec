// Package images holds what users install, and its tests: the Debian
// package (deb/: unit, maintainer scripts, gwd(8), the commented
// /etc/gwd/gwd.yaml generated from the keys' descriptions), the container
// recipe (container/), the Kubernetes DaemonSet (k8s/) and the notes for
// SONiC switches (sonic/). The package has no code of its own; its tests
// check that every configuration shipped here is one `gwd config check`
// accepts, that the recipes build what `make build` builds, and (as an
// integration test, root on Debian) that the .deb installs, runs, passes
// lintian and systemd-analyze, and leaves nothing behind once purged.
package images
