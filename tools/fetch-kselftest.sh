#!/bin/sh
# Extract kselftest.h and kselftest_harness.h (GPL-2.0, from the kernel tree)
# out of Debian's linux-source package into DEST.  They are fetched at build
# time and never committed.
#
#   tools/fetch-kselftest.sh DEST [SOURCE_CACHE_DIR]
set -eu
dest=${1:?usage: fetch-kselftest.sh DEST [SOURCE_CACHE_DIR]}
[ -f "$dest/kselftest_harness.h" ] && [ -f "$dest/kselftest.h" ] && exit 0
src=$("$(dirname "$0")/fetch-linux-source.sh" "${2:-$dest/../linux-source}")
top=$(basename "$src" | sed 's/\.tar\..*//')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xf "$src" -C "$work" "$top/tools/testing/selftests/kselftest.h" \
	"$top/tools/testing/selftests/kselftest_harness.h"
mkdir -p "$dest"
cp "$work/$top/tools/testing/selftests/kselftest.h" \
	"$work/$top/tools/testing/selftests/kselftest_harness.h" "$dest/"
