#!/bin/sh
# The main job, inside the VM (tools/demo.sh boots it): load the module,
# format and bind /dev/vda, load data with the benchmark through the kernel
# path and read it back, show the store, unbind and bind again (the data is
# still there), then run the same workload on the userspace build of the
# same engine on /dev/vdb, for comparison in the same VM.
set -e
records=${RECORDS:-50000}
work="--records $records --value-size 1000 --ops $((records / 2)) --cache 32M"
step() { printf '\n==> %s\n' "$*"; }

step "insmod betrkv.ko; format and bind /dev/vda"
insmod /lib/modules/betrkv.ko
betrkvctl format /dev/vda --yes
store=$(betrkvctl bind /dev/vda --cache 32M)
betrkvctl status "$store" | grep -Ei 'uuid|state|node size|journal|cache'

step "load $records records through the kernel path, then read them back"
betrkv-bench --engine betrkv-kernel --path "$store" $work --workload load,c,a

step "a few keys, and the store's statistics"
betrkvctl scan "$store" --limit 3 --keys-only
betrkvctl stats "$store"

step "unbind (final checkpoint), bind again: every record must still read back"
betrkvctl unbind "$store"
store=$(betrkvctl bind /dev/vda --cache 32M)
betrkv-bench --engine betrkv-kernel --path "$store" $work --workload verify
betrkvctl unbind "$store"
rmmod betrkv

step "the same workload on the userspace build of the engine (/dev/vdb, O_DIRECT)"
betrkv-bench --engine betrkv --path /dev/vdb $work --workload load,c,a

step "done"
