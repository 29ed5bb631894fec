#!/usr/bin/env bash
# Builds the Debian package of gwd with dpkg-deb (no debhelper, no Go
# module): build.sh BINARY VERSION DATE OUTDIR, as `make deb` calls it.
#   BINARY   the gwd built by `make build` (cgo, linked internally)
#   VERSION  git describe; turned into a Debian version
#   DATE     the last commit's date (git log -1 --format=%cI): every file's
#            time and the changelog's date, so the package is reproducible
# Writes OUTDIR/gwd_<version>_<arch>.deb and prints its path.
set -euo pipefail
umask 022

bin=$1 version=$2 date=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
commit=$(git -C "$here" rev-parse HEAD 2>/dev/null || echo unknown)

# Debian versions start with a digit: v1.2.0-3-gabc -> 1.2.0+3+gabc; a bare
# commit hash (no tag yet) -> 0~git<commit time>.<hash>.
# Outside a git checkout (DATE unknown): SOURCE_DATE_EPOCH, else 0.
epoch=$(date -u -d "$date" +%s 2>/dev/null || echo "${SOURCE_DATE_EPOCH:-0}")
if [[ $version =~ ^v?[0-9]+\.[0-9] ]]; then
	debver=$(echo "${version#v}" | tr -- '-_' '++')
else
	debver="0~git$(date -u -d "@$epoch" +%Y%m%d%H%M%S).$(echo "$version" | tr -- '-_' '++')"
fi
arch=$(dpkg --print-architecture)
# The newest glibc symbol version the binary needs: its one dependency.
glibc=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
install -D -m 0755 "$bin" "$root/usr/sbin/gwd"
# As dh_strip does: the symbol table and debug sections are not needed at run time.
strip --remove-section=.comment --strip-unneeded "$root/usr/sbin/gwd"
install -D -m 0644 "$here/gwd.yaml" "$root/etc/gwd/gwd.yaml"
install -D -m 0644 "$here/gwd.service" "$root/lib/systemd/system/gwd.service"
install -d "$root/usr/share/man/man8" "$root/usr/share/doc/gwd"
gzip -9n <"$here/gwd.8" >"$root/usr/share/man/man8/gwd.8.gz"
install -m 0644 "$here/copyright" "$root/usr/share/doc/gwd/copyright"
sed -e "s/@VERSION@/$debver/" -e "s/@COMMIT@/$commit/" -e "s/@DATE@/$(date -u -R -d "@$epoch")/" \
	"$here/changelog.in" | gzip -9n >"$root/usr/share/doc/gwd/changelog.gz"

install -d "$root/DEBIAN"
install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$root/DEBIAN/"
echo /etc/gwd/gwd.yaml >"$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f ! -path './etc/*' -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
size=$(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$debver/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@GLIBC@/$glibc/" \
	"$here/control.in" >"$root/DEBIAN/control"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

find "$root" -exec touch -h -d "@$epoch" {} +
mkdir -p "$out"
deb=$out/gwd_${debver}_${arch}.deb
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
