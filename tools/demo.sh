#!/bin/bash
# The main job end to end (run by `make demo` after `make all`): boot the
# installed kernel in QEMU with two 1 GiB disk images and run
# tools/demo-guest.sh inside it.  Exits with the guest's status.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
# betrkv-vm boots the newest kernel with the module built for it
# (build/modules/<release>/betrkv.ko).
exec tools/vm/betrkv-vm --bin "$BUILD/bin/betrkvctl" \
	--bin "$BUILD/bin/betrkv-bench" --bin tools/demo-guest.sh \
	--disk 1G --disk 1G --mem 2048 --timeout 1200 -- /bin/demo-guest.sh
