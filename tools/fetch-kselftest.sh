#!/bin/sh
# Extract kselftest.h and kselftest_harness.h (GPL-2.0, from the kernel tree)
# out of Debian's linux-source package into DEST.  They are fetched at build
# time and never committed.
set -eu
dest=${1:?usage: fetch-kselftest.sh DEST}
[ -f "$dest/kselftest_harness.h" ] && [ -f "$dest/kselftest.h" ] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
pkg=$(apt-cache depends linux-source 2>/dev/null | sed -n 's/.*Depends: \(linux-source-[0-9.]*\)$/\1/p' | head -n 1)
pkg=${pkg:-linux-source-6.1}
# apt's package lists may be missing or stale on a fresh machine: refresh once.
(cd "$work" && apt-get download "$pkg" >/dev/null 2>&1) || {
	apt-get update -qq >/dev/null
	(cd "$work" && apt-get download "$pkg" >/dev/null)
}
deb=$(ls "$work"/*.deb)
tarball=$(dpkg-deb --contents "$deb" | awk '{print $NF}' | grep -E '/linux-source-[0-9.]+\.tar\.(xz|bz2|gz)$' | head -n 1)
dpkg-deb --fsys-tarfile "$deb" | tar -xf - -C "$work" ".$tarball" 2>/dev/null || \
	dpkg-deb --fsys-tarfile "$deb" | tar -xf - -C "$work" "$tarball"
src=$(find "$work" -name 'linux-source-*.tar.*' | head -n 1)
top=$(basename "$src" | sed 's/\.tar\..*//')
mkdir -p "$dest"
tar -xf "$src" -C "$work" "$top/tools/testing/selftests/kselftest.h" \
	"$top/tools/testing/selftests/kselftest_harness.h"
cp "$work/$top/tools/testing/selftests/kselftest.h" \
	"$work/$top/tools/testing/selftests/kselftest_harness.h" "$dest/"
