#!/bin/sh
# The main job, inside the VM (tools/demo.sh boots it): load the module,
# format the disk, bind it, show what the store looks like, unbind, bind
# again to show the checkpoint generation advancing, and unbind.
set -e
disk=/dev/vda
step() { printf '\n==> %s\n' "$*"; }

step "insmod betrkv.ko"
insmod /lib/modules/betrkv.ko
ls -l /dev/betrkv-control

step "betrkvctl format $disk --yes"
betrkvctl format $disk --yes

step "betrkvctl bind $disk --cache 32M"
store=$(betrkvctl bind $disk --cache 32M)
echo "$store"

step "betrkvctl list"
betrkvctl list

step "betrkvctl status $store"
betrkvctl status "$store"

step "sysfs: /sys/class/betrkv/${store#/dev/}/"
for f in /sys/class/betrkv/"${store#/dev/}"/*; do
	case ${f##*/} in uevent|dev|power|subsystem) continue ;; esac
	[ -f "$f" ] && [ -r "$f" ] && printf '%-20s %s\n' "${f##*/}" "$(cat "$f" 2>/dev/null)"
done

step "betrkvctl unbind $store (writes the final checkpoint)"
betrkvctl unbind "$store"

step "betrkvctl dump-super $disk (read straight from the disk)"
modprobe algif_hash 2>/dev/null || true
betrkvctl dump-super $disk

step "bind again: same store, next generation"
store=$(betrkvctl bind $disk)
betrkvctl status "$store" | grep -Ei 'uuid|generation|state'
betrkvctl unbind "$store"
rmmod betrkv

step "done"
