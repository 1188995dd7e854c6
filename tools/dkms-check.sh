#!/bin/bash
# Check that DKMS builds betrkv.ko from dkms.conf for each kernel: TAP, one
# test per kernel (and one for the version), as tools/run-tests.sh counts.
#
#   tools/dkms-check.sh [KERNEL-RELEASE...]   (default: every installed
#                                              kernel with its headers)
#
# Self-cleaning and private: the source tree (`make dkms-source`), the DKMS
# tree and the module-signing key dkms makes live in one temporary
# directory, given to dkms with --sourcetree and --dkmstree, so neither
# /usr/src, /var/lib/dkms nor an installed betrkv is touched; nothing is
# installed.  Needs root and dkms (tools/install-deps.sh); else it skips.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

kernels=("$@")
if [ ${#kernels[@]} -eq 0 ]; then
	for k in /boot/vmlinuz-*-amd64; do
		v=${k#/boot/vmlinuz-}
		[ -f "/lib/modules/$v/build/Makefile" ] && kernels+=("$v")
	done
fi

echo "TAP version 13"
if [ "$(id -u)" -ne 0 ] || ! command -v dkms >/dev/null; then
	echo "1..1"
	echo "ok 1 dkms build # SKIP needs root and dkms (tools/install-deps.sh)"
	exit 0
fi
if [ ${#kernels[@]} -eq 0 ]; then
	echo "1..1"
	echo "not ok 1 dkms build: no kernel with headers installed (make deps)"
	exit 1
fi
echo "1..$(( ${#kernels[@]} + 1 ))"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/betrkv-dkms.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
n=1

# dkms.conf's PACKAGE_VERSION must be the Makefile's VERSION.
version=$(sed -n 's/^VERSION[[:space:]]*:=[[:space:]]*//p' Makefile)
conf_version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)
if [ -n "$version" ] && [ "$version" = "$conf_version" ]; then
	echo "ok $n dkms.conf version $conf_version is the Makefile's"
else
	echo "not ok $n dkms.conf version '$conf_version' is not the Makefile's '$version'"
	fail=1
fi

src=$tmp/src/betrkv-$conf_version
if ! make -s dkms-source DKMS_SRC="$src" > "$tmp/source.log" 2>&1; then
	cat "$tmp/source.log"
	for k in "${kernels[@]}"; do
		n=$((n + 1))
		echo "not ok $n dkms build $k: make dkms-source failed"
	done
	exit 1
fi

# dkms makes a signing key where these say if there is none.
export mok_signing_key=$tmp/mok.key mok_certificate=$tmp/mok.pub
mkdir -p "$tmp/dkms"
dkms_args=(--sourcetree "$tmp/src" --dkmstree "$tmp/dkms")
for k in "${kernels[@]}"; do
	n=$((n + 1))
	start=$(date +%s)
	log=$tmp/build-$k.log
	if ! dkms "${dkms_args[@]}" build -m betrkv -v "$conf_version" -k "$k" > "$log" 2>&1; then
		echo "not ok $n dkms build $k: dkms failed"
		sed 's/^/# /' "$log"
		find "$tmp/dkms" -name make.log -path "*/$conf_version/*" -exec tail -n 30 {} \; | sed 's/^/# /'
		fail=1
		continue
	fi
	ko=$(find "$tmp/dkms/betrkv/$conf_version/$k" -name 'betrkv.ko*' | head -n 1)
	vermagic=$(modinfo -F vermagic "$ko" 2>/dev/null)
	if [ -z "$ko" ] || [ "${vermagic%% *}" != "$k" ]; then
		echo "not ok $n dkms build $k: no betrkv.ko for $k (${ko:-none}, vermagic '$vermagic')"
		fail=1
		continue
	fi
	echo "ok $n dkms build $k ($(( $(date +%s) - start )) s; ${ko##*/}, signer: $(modinfo -F signer "$ko" 2>/dev/null || echo none))"
done
dkms "${dkms_args[@]}" remove -m betrkv -v "$conf_version" --all > /dev/null 2>&1
exit $fail
