#!/usr/bin/env bash
# Builds the vmm sandboxer's guest from Debian packages and our own code:
#   build/guest/vmlinuz     the Debian cloud kernel (linux-image-*-cloud-amd64)
#   build/guest/initrd.img  busybox-static, runc (+ its libraries), crun when install-deps.sh
#                           unpacked it (+ its libraries and its newer glibc, which runc runs
#                           on too), the virtio modules (and 9p's, when the kernel has them),
#                           our guest agent (kuasar-holder in serve mode), our OOM watcher
#                           (kuasar-oom-watch) and guest/init as /init
#   build/guest/kernel-release
# With --template, the guest VM templates boot, in build/guest-template: Debian's generic
# kernel (linux-image-*-amd64, unpacked privately by packaging/install-deps.sh into
# .deps/guest-kernel, never installed), which has 9p: VMs restored from a template share its
# RAM pages and get the pod's files over virtio-9p (docs/adr/0009-vm-templates.md).
# Incremental: does nothing when every input is older than the initrd.
# Usage: bash packaging/build-guest.sh [--template] [OUT_DIR]
#   KUASAR_GUEST_KERNEL_ROOT: where boot/vmlinuz-* and lib/modules/ are (default: / for the
#   cloud kernel, .deps/guest-kernel with --template)
set -euo pipefail
cd "$(dirname "$0")/.."
template=0
if [ "${1:-}" = --template ]; then template=1; shift; fi
OUT=${1:-build/guest}
[ $template = 0 ] || OUT=${1:-build/guest-template}
AGENT=build/native/kuasar-holder
# The pod's pid 1 the agent execs, found beside the agent's own binary.
POD_INIT=build/native/kuasar-pod-init
OOM_WATCH=build/native/kuasar-oom-watch
# crun, unpacked privately by packaging/install-deps.sh with the glibc it needs: the guest runs
# containers with it (a C binary starts far faster than runc's Go under TCG); runc stays the
# fallback (src/sandboxers/vmm/guest-oci-runtime.ts).
CRUN_DIR=$(readlink -f "${KUASAR_DEPS_DIR:-.deps}")/crun
CRUN_LIB=$CRUN_DIR/usr/lib/x86_64-linux-gnu
INIT=packaging/guest/init

log() { printf '[build-guest] %s\n' "$*" >&2; }
die() { printf '[build-guest] ERROR: %s\n' "$*" >&2; exit 1; }

root=${KUASAR_GUEST_KERNEL_ROOT:-/}
[ $template = 0 ] || root=${KUASAR_GUEST_KERNEL_ROOT:-.deps/guest-kernel}
if [ "$root" = / ]; then
  kernel=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1 || true)
else
  kernel=$(ls "$root"/boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [ -z "$kernel" ]; then
  # Not fatal for a build: only the vmm sandboxer needs a guest, and it says so at sandbox Create.
  log "WARNING: no guest kernel under $root/boot (packaging/install-deps.sh installs it); no guest built in $OUT"
  exit 0
fi
release=${kernel##*/vmlinuz-}
moddir=${root%/}/lib/modules/$release
[ -d "$moddir" ] || die "kernel modules $moddir missing"
[ -x "$AGENT" ] || die "$AGENT missing: run 'make -C native' first"
[ -x "$POD_INIT" ] || die "$POD_INIT missing: run 'make -C native' first"
[ -x "$OOM_WATCH" ] || die "$OOM_WATCH missing: run 'make -C native' first"
crun=
if [ -x "$CRUN_DIR/usr/bin/crun" ] && [ -x "$CRUN_LIB/ld-linux-x86-64.so.2" ]; then
  crun=$CRUN_DIR/usr/bin/crun
else
  log "WARNING: no crun under $CRUN_DIR (packaging/install-deps.sh unpacks it): the guest runs containers with runc only"
fi
busybox=$(command -v busybox || echo /bin/busybox)
[ -x "$busybox" ] || die "busybox missing: install busybox-static"
runc=$(command -v runc || echo /usr/sbin/runc)
[ -x "$runc" ] || die "runc missing"

# Load order matters (insmod has no dependency resolution): dependencies first.
MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_console fuse virtiofs failover net_failover virtio_net"
# virtio-9p, the share of VMs restored from a template (QEMU serves it from the VM's own,
# possibly private copy-on-write, RAM): only some kernels have it (not the cloud one).
if [ -n "$(find "$moddir/kernel" -name 9p.ko -print -quit 2>/dev/null)" ]; then
  MODULES="$MODULES netfs fscache 9pnet 9pnet_virtio 9p"
fi

if [ -f "$OUT/initrd.img" ] && [ "$(cat "$OUT/kernel-release" 2>/dev/null)" = "$release" ] && cmp -s "$kernel" "$OUT/vmlinuz"; then
  newer=$(find "$AGENT" "$POD_INIT" "$OOM_WATCH" "$INIT" "$0" "$busybox" "$runc" ${crun:+"$crun"} "$kernel" -newer "$OUT/initrd.img" 2>/dev/null | head -n 1)
  [ -z "$newer" ] && exit 0
fi

log "building $OUT/initrd.img (kernel $release)"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,lib/modules,lib64,etc,proc,sys,dev,run,tmp,mnt,newroot}
install -m 0755 "$busybox" "$stage/bin/busybox"
install -m 0755 "$runc" "$stage/sbin/runc"
install -m 0755 "$AGENT" "$stage/sbin/kuasar-agent"
install -m 0755 "$POD_INIT" "$stage/sbin/kuasar-pod-init"
install -m 0755 "$OOM_WATCH" "$stage/sbin/kuasar-oom-watch"
install -m 0755 "$INIT" "$stage/init"
# runc is dynamically linked: copy its loader and libraries to the same paths.
for lib in $(ldd "$runc" | grep -o '/[^ ]*'); do
  mkdir -p "$stage$(dirname "$lib")"
  cp -L "$lib" "$stage$lib"
done
# crun's libraries as its own loader resolves them: the private ones (its glibc, libyajl) go
# to the system paths, replacing the host's older glibc (runc runs on the newer one too).
if [ -n "$crun" ]; then
  install -m 0755 "$crun" "$stage/sbin/crun"
  for lib in $("$CRUN_LIB/ld-linux-x86-64.so.2" --library-path "$CRUN_LIB" --list "$crun" | grep -o '=> /[^ ]*' | cut -c4-); do
    case $lib in
    "$CRUN_LIB"/*) dest=/lib/x86_64-linux-gnu/${lib##*/} ;;
    *) dest=$lib ;;
    esac
    mkdir -p "$stage$(dirname "$dest")"
    cp -L "$lib" "$stage$dest"
  done
  for dest in /lib64/ld-linux-x86-64.so.2 /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2; do
    mkdir -p "$stage$(dirname "$dest")"
    cp -L "$CRUN_LIB/ld-linux-x86-64.so.2" "$stage$dest"
  done
  # Both runtimes must find every library in the guest (crun itself cannot start without /proc).
  for bin in /sbin/crun /sbin/runc; do
    if ! out=$(chroot "$stage" /lib64/ld-linux-x86-64.so.2 --list "$bin" 2>&1) || grep -q 'not found' <<<"$out"; then
      die "$bin does not load on the guest's libraries: $out"
    fi
  done
fi
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
