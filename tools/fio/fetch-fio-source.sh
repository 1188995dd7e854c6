#!/bin/sh
# Fetch the Debian source package of the installed fio (its headers are the
# external ioengine's build-time interface; Debian ships none) and configure
# it, so that DEST holds fio.h, ioengines.h, optgroup.h, ... and the
# config-host.h they need.  Fetched at build time and never committed.
#
# Usage: tools/fio/fetch-fio-source.sh DEST
#
# apt runs with a private deb-src list, state and cache directories (under a
# temporary directory next to DEST): the system's apt configuration, package
# lists and cache are neither read for sources nor changed.  Needs network
# access to the Debian archive, dpkg-dev (dpkg-source, for `apt-get source`)
# and a C compiler (fio's ./configure).  Works as root or as a user.
#
# The version fetched is that of the installed fio package (the engine must
# match the fio that loads it); without fio installed, the newest one.
# Environment: FIO_DEBIAN_MIRROR (default http://deb.debian.org/debian),
# FIO_DEBIAN_SECURITY (default http://deb.debian.org/debian-security),
# FIO_DEBIAN_SUITE (default: VERSION_CODENAME of /etc/os-release).
set -eu
dest=${1:?usage: fetch-fio-source.sh DEST}

installed=$(dpkg-query -W -f='${db:Status-Status} ${source:Package} ${source:Version}\n' fio 2>/dev/null |
	awk '$1 == "installed" { print $2 "=" $3 }')
want=${installed:-fio}
stamp="$dest/.betrkv-fetched"

# Already there, for the same version: nothing to do.
if [ -f "$dest/config-host.h" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi

mirror=${FIO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${FIO_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
suite=${FIO_DEBIAN_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

parent=$(dirname "$dest")
mkdir -p "$parent"
work=$(mktemp -d "$parent/.fio-fetch.XXXXXX")
work=$(cd "$work" && pwd)	# apt takes relative Dir:: values as relative to /
trap 'rm -rf "$work"' EXIT
# apt drops privileges to _apt for downloads when run as root.
chmod 755 "$work"

signed=""
[ -r "$keyring" ] && signed=" [signed-by=$keyring]"
cat > "$work/sources.list" <<EOF
deb-src$signed $mirror $suite main
deb-src$signed $mirror $suite-updates main
deb-src$signed $security $suite-security main
EOF
mkdir -p "$work/state/lists/partial" "$work/cache/archives/partial" "$work/src" \
	"$work/sources.list.d"

apt_private() {
	apt-get -q \
		-o Dir::Etc::SourceList="$work/sources.list" \
		-o Dir::Etc::SourceParts="$work/sources.list.d" \
		-o Dir::State="$work/state" \
		-o Dir::Cache="$work/cache" \
		-o Dir::State::status=/var/lib/dpkg/status \
		-o Debug::NoLocking=1 \
		-o APT::Sandbox::User="$(id -un)" \
		"$@"
}

echo "fetch-fio-source: apt-get source $want (private apt lists)" >&2
apt_private update > "$work/apt.log" 2>&1 || {
	cat "$work/apt.log" >&2
	echo "fetch-fio-source: apt-get update failed" >&2
	exit 1
}
(cd "$work/src" && apt_private source "$want") >> "$work/apt.log" 2>&1 || {
	cat "$work/apt.log" >&2
	echo "fetch-fio-source: apt-get source $want failed (is dpkg-dev installed?)" >&2
	exit 1
}

tree=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'fio-*' | head -n 1)
[ -n "$tree" ] && [ -f "$tree/fio.h" ] && [ -f "$tree/ioengines.h" ] || {
	echo "fetch-fio-source: no fio source tree in the package" >&2
	exit 1
}
rm -f "$work/src"/*.tar.* "$work/src"/*.dsc

# The same configuration as debian/rules (whose --enable-gfio and
# --enable-libnbd only add programs and engines, not header contents).
(cd "$tree" && ./configure --disable-native --prefix=/usr) > "$work/configure.log" 2>&1 || {
	cat "$work/configure.log" >&2
	echo "fetch-fio-source: fio's ./configure failed" >&2
	exit 1
}
[ -f "$tree/config-host.h" ] || { echo "fetch-fio-source: no config-host.h" >&2; exit 1; }
# FIO_VERSION as fio's Makefile defines it (the release tarball has none).
(cd "$tree" && ./FIO-VERSION-GEN) > /dev/null 2>&1 || true

echo "$want" > "$tree/.betrkv-fetched"
rm -rf "$dest"
mv "$tree" "$dest"
