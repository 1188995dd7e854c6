#!/bin/sh
# Fetch Debian's linux-source tarball (GPL-2.0 kernel sources) into DIR,
# once, and print its path.  Used at build time for the kselftest headers and
# the debug kernel; nothing from it is ever committed.
#
#   tools/fetch-linux-source.sh DIR
set -eu
dir=${1:?usage: fetch-linux-source.sh DIR}
mkdir -p "$dir"
found=$(find "$dir" -maxdepth 1 -name 'linux-source-*.tar.*' | head -n 1)
if [ -n "$found" ]; then
	echo "$found"
	exit 0
fi
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
mv "$src" "$dir/"
echo "$dir/$(basename "$src")"
