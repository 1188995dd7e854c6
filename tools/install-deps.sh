#!/bin/sh
# Install the Debian 12 packages betrkv needs to build and to test in a VM.
#
# Usage (as root): tools/install-deps.sh
#
# Idempotent and silent when everything is already installed: it asks dpkg
# which packages are missing and only then runs `apt-get update` once and
# `apt-get install --no-install-recommends` for exactly those packages.
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
"

missing=""
for pkg in $PACKAGES; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = "installed" ] || missing="$missing $pkg"
done

[ -n "$missing" ] || exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing; run this script as root" >&2
	exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq >/dev/null; then
	echo "install-deps: 'apt-get update' failed" >&2
	exit 1
fi
# shellcheck disable=SC2086 # $missing is a word list on purpose
if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
	echo "install-deps: 'apt-get install$missing' failed" >&2
	exit 1
fi
