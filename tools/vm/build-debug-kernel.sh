#!/bin/sh
# Build the debug kernel of `make check-debug`: Debian's linux-source with
# tools/vm/debug-kernel.config on top of tinyconfig (KASAN, lockdep,
# atomic-sleep checks, kmemleak, list debugging), installed under DIR/root
# as /boot/vmlinuz-VER, /boot/config-VER and /lib/modules/VER, which
# tools/vm/betrkv-vm boots with --root DIR/root.  DIR/obj is the build tree
# the module is built against.  Nothing is rebuilt while the fragment is
# unchanged.
#
#   tools/vm/build-debug-kernel.sh DIR
set -eu
dir=$(realpath -m "${1:?usage: build-debug-kernel.sh DIR}")
here=$(cd "$(dirname "$0")" && pwd)
frag=$here/debug-kernel.config
stamp=$dir/root/.fragment
if [ -f "$stamp" ] && cmp -s "$stamp" "$frag"; then
	exit 0
fi
tarball=$("$here/../fetch-linux-source.sh" "$dir/../linux-source")
top=$(basename "$tarball" | sed 's/\.tar\..*//')
if [ ! -f "$dir/src/$top/Makefile" ]; then
	echo "build-debug-kernel: unpacking $top"
	mkdir -p "$dir/src"
	tar -xf "$tarball" -C "$dir/src"
fi
src=$dir/src/$top
obj=$dir/obj
mkdir -p "$obj"
kmake() { make -C "$src" O="$obj" LOCALVERSION=-betrkv-debug "$@"; }
kmake -s tinyconfig
# (merge_config.sh leaves its temporary files in the current directory)
(cd "$obj" && "$src/scripts/kconfig/merge_config.sh" -m -O . .config "$frag" >/dev/null)
kmake -s olddefconfig
# Every option of the fragment must have survived: a dependency that is
# not met drops one silently.
lost=$(grep '^CONFIG_' "$frag" | while read -r opt; do
	grep -qx "$opt" "$obj/.config" || echo "$opt"
done | tr '\n' ' ')
unwanted=$(sed -n 's/^# \(CONFIG_[A-Z0-9_]*\) is not set$/\1/p' "$frag" |
	while read -r opt; do
		grep -q "^$opt=" "$obj/.config" && echo "$opt"
	done | tr '\n' ' ')
lost="$lost$unwanted"
if [ -n "$lost" ]; then
	echo "build-debug-kernel: options not taken: $lost" >&2
	exit 1
fi
echo "build-debug-kernel: building $(kmake -s kernelrelease) (takes a while)"
kmake -s -j"$(nproc)" bzImage modules
ver=$(kmake -s kernelrelease)
rm -rf "$dir/root"
mkdir -p "$dir/root/boot"
kmake -s INSTALL_MOD_PATH="$dir/root" INSTALL_MOD_STRIP=1 modules_install
cp "$obj/arch/x86/boot/bzImage" "$dir/root/boot/vmlinuz-$ver"
cp "$obj/.config" "$dir/root/boot/config-$ver"
cp "$frag" "$stamp"
echo "build-debug-kernel: $dir/root/boot/vmlinuz-$ver"
