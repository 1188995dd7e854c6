#!/bin/bash
# The main job end to end (run by `make demo` after `make all`): boot the
# installed kernel in QEMU with a 256 MiB disk image and run
# tools/demo-guest.sh inside it.  Exits with the guest's status.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
exec tools/vm/betrkv-vm --module betrkv.ko --bin "$BUILD/bin/betrkvctl" \
	--bin tools/demo-guest.sh --disk 256M --timeout 600 -- /bin/demo-guest.sh
