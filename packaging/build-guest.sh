#!/usr/bin/env bash
# Builds the vmm sandboxer's guest from Debian packages and our own code:
#   build/guest/vmlinuz     the Debian cloud kernel (linux-image-*-cloud-amd64)
#   build/guest/initrd.img  busybox-static, runc (+ its libraries), the virtio
#                           modules, our guest agent (kuasar-holder in serve mode)
#                           and guest/init as /init
#   build/guest/kernel-release
# Incremental: does nothing when every input is older than the initrd.
# Usage: bash packaging/build-guest.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build/guest}
AGENT=build/native/kuasar-holder
INIT=packaging/guest/init

log() { printf '[build-guest] %s\n' "$*" >&2; }
die() { printf '[build-guest] ERROR: %s\n' "$*" >&2; exit 1; }

kernel=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$kernel" ]; then
  # Not fatal for a build: only the vmm sandboxer needs a guest, and it says so at sandbox Create.
  log "WARNING: no /boot/vmlinuz-*-cloud-amd64 (install linux-image-cloud-amd64: packaging/install-deps.sh); no guest built"
  exit 0
fi
release=${kernel#/boot/vmlinuz-}
moddir=/lib/modules/$release
[ -d "$moddir" ] || die "kernel modules $moddir missing"
[ -x "$AGENT" ] || die "$AGENT missing: run 'make -C native' first"
busybox=$(command -v busybox || echo /bin/busybox)
[ -x "$busybox" ] || die "busybox missing: install busybox-static"
runc=$(command -v runc || echo /usr/sbin/runc)
[ -x "$runc" ] || die "runc missing"

# Load order matters (insmod has no dependency resolution): dependencies first.
MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_console fuse virtiofs failover net_failover virtio_net"

if [ -f "$OUT/initrd.img" ] && [ "$(cat "$OUT/kernel-release" 2>/dev/null)" = "$release" ]; then
  newer=$(find "$AGENT" "$INIT" "$0" "$busybox" "$runc" "$kernel" -newer "$OUT/initrd.img" 2>/dev/null | head -n 1)
  [ -z "$newer" ] && exit 0
fi

log "building $OUT/initrd.img (kernel $release)"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,lib/modules,lib64,etc,proc,sys,dev,run,tmp,mnt,newroot}
install -m 0755 "$busybox" "$stage/bin/busybox"
install -m 0755 "$runc" "$stage/sbin/runc"
install -m 0755 "$AGENT" "$stage/sbin/kuasar-agent"
install -m 0755 "$INIT" "$stage/init"
# runc is dynamically linked: copy its loader and libraries to the same paths.
for lib in $(ldd "$runc" | grep -o '/[^ ]*'); do
  mkdir -p "$stage$(dirname "$lib")"
  cp -L "$lib" "$stage$lib"
done
for m in $MODULES; do
  path=$(find "$moddir/kernel" -name "$m.ko" -print -quit)
  [ -n "$path" ] || die "module $m.ko not found under $moddir"
  cp "$path" "$stage/lib/modules/"
done
echo "$MODULES" >"$stage/lib/modules/load-order"
printf 'root:x:0:0:root:/:/bin/sh\n' >"$stage/etc/passwd"
printf 'root:x:0:\n' >"$stage/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$stage/etc/hosts"

mkdir -p "$OUT"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc --owner=0:0) | gzip -1 >"$OUT/initrd.img.tmp"
mv -f "$OUT/initrd.img.tmp" "$OUT/initrd.img"
cp -f "$kernel" "$OUT/vmlinuz"
echo "$release" >"$OUT/kernel-release"
log "done: $(du -h "$OUT/initrd.img" | cut -f1) initrd, kernel $release"
