#!/bin/sh
# Install the Debian 12 packages betrkv needs to build and to test in a VM,
# for both kernels it targets: Debian 12's own 6.1 and the 6.12 of
# bookworm-backports.
#
# Usage (as root): tools/install-deps.sh
#
# Idempotent and silent when everything is already installed: it asks dpkg
# which packages are missing and only then runs `apt-get update` once and
# `apt-get install --no-install-recommends` for exactly those packages.
#
# The 6.12 kernel: the script adds the bookworm-backports suite to apt's
# sources (/etc/apt/sources.list.d/bookworm-backports.sources, unless a
# source already names it) and installs the versioned image and headers
# packages that the suite's linux-image-amd64 and linux-headers-amd64 depend
# on (e.g. linux-image-6.12.95+deb12-amd64), from that suite.  The
# meta-packages themselves stay at 6.1, so the 6.1 image, modules and
# headers stay installed beside it, and so do linux-libc-dev and
# linux-perf.  Any installed 6.12 image and headers
# count as present: an installed machine is not upgraded.
set -eu

PACKAGES="
build-essential
dpkg-dev
make
pkg-config
qemu-system-x86
linux-image-amd64
linux-headers-amd64
busybox-static
cpio
xz-utils
zstd
kmod
fio
libkcapi-dev
clang
libclang-rt-14-dev
dmsetup
udev
mandoc
librocksdb-dev
liblmdb-dev
flex
bison
bc
libelf-dev
libssl-dev
dkms
"
BACKPORTS=bookworm-backports
BACKPORTS_SOURCES=/etc/apt/sources.list.d/$BACKPORTS.sources

installed() {	# installed PATTERN: some package matching PATTERN is installed
	dpkg-query -W -f='${db:Status-Status}\n' "$1" 2>/dev/null | grep -qx installed
}

missing=""
for pkg in $PACKAGES; do
	installed "$pkg" || missing="$missing $pkg"
done
need612=0
installed 'linux-image-6.12.*-amd64' && installed 'linux-headers-6.12.*-amd64' || need612=1

[ -n "$missing" ] || [ "$need612" = 1 ] || exit 0

if [ "$(id -u)" -ne 0 ]; then
	[ "$need612" = 0 ] || missing="$missing linux-image-6.12 linux-headers-6.12 ($BACKPORTS)"
	echo "install-deps: missing packages:$missing; run this script as root" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if [ "$need612" = 1 ] &&
   ! grep -rqsE "^[^#]*[[:space:]]$BACKPORTS([[:space:]]|$)" /etc/apt/sources.list /etc/apt/sources.list.d/; then
	echo "install-deps: adding $BACKPORTS to apt's sources ($BACKPORTS_SOURCES)"
	cat > "$BACKPORTS_SOURCES" <<-SOURCES
	Types: deb
	URIs: http://deb.debian.org/debian
	Suites: $BACKPORTS
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	SOURCES
fi
if ! apt-get update -qq >/dev/null; then
	echo "install-deps: 'apt-get update' failed" >&2
	exit 1
fi
if [ -n "$missing" ]; then
	echo "install-deps: installing$missing"
	# shellcheck disable=SC2086 # $missing is a word list on purpose
	if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
		echo "install-deps: 'apt-get install$missing' failed" >&2
		exit 1
	fi
fi
if [ "$need612" = 1 ]; then
	# The versioned packages the suite's meta-packages point at.
	versioned=""
	for meta in linux-image-amd64 linux-headers-amd64; do
		pkg=$(apt-cache show "$meta/$BACKPORTS" 2>/dev/null |
		      sed -n 's/^Depends:.*\(linux-[a-z]*-6\.12[^ ,]*-amd64\).*/\1/p' | head -n 1)
		if [ -z "$pkg" ]; then
			echo "install-deps: no 6.12 $meta in $BACKPORTS" >&2
			exit 1
		fi
		versioned="$versioned $pkg"
	done
	echo "install-deps: installing$versioned from $BACKPORTS"
	# Without Upgrade-By-Source-Package=false, apt would also upgrade every
	# installed package built from the same source (the meta-packages,
	# linux-libc-dev, linux-perf) to the suite's 6.12.
	# shellcheck disable=SC2086 # $versioned is a word list on purpose
	if ! apt-get install -y -qq --no-install-recommends -t "$BACKPORTS" \
		-o APT::Get::Upgrade-By-Source-Package=false $versioned >/dev/null; then
		echo "install-deps: 'apt-get install -t $BACKPORTS$versioned' failed" >&2
		exit 1
	fi
fi
