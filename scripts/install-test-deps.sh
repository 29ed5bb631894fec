#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian 12 machine (as root):
# the Debian packages of the real components the integration tests start,
# and the Go modules. Idempotent: a machine that has everything is untouched.
set -euo pipefail

# Real components used by integration tests (internal/testbed; see
# ../shared/TESTBED.md). Installed without recommends: libvirt-daemon would
# otherwise pull in qemu and more.
# lintian, binutils (objdump, strip) and systemd (systemd-analyze) check the
# .deb that `make deb` builds (images/, TestIntegrationDeb). chromium drives
# the web page's browser test (web/, through chromedp); prometheus brings
# promtool, which checks /metrics.
PACKAGES=(iproute2 iputils-ping iptables procps ethtool openvswitch-switch redis-server snmpd
  bird2 libvirt-daemon libvirt-clients lintian binutils systemd man-db chromium prometheus)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-deps: missing Debian packages (${missing[*]}); run as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
fi

go mod download
