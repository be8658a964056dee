#!/usr/bin/env bash
# Install the external components kuasar-ts needs on a Debian 12 (bookworm) host.
#
#   sudo bash packaging/install-deps.sh
#
# What it does (idempotent; a second run only checks and prints the summary):
#   1. apt-get installs, only when missing, the bookworm packages the runtime and
#      the e2e harness use (runc, qemu, runsc, umoci, busybox-static, CNI plugins,
#      a Debian guest kernel, ...). `apt-get update` runs only when a package is
#      missing and the package lists are absent or older than a day.
#   2. Downloads stock containerd 1.7 (Debian `trixie`) and containerd 2.x (Debian
#      `sid`) with `apt-get download` through a PRIVATE sources list / lists dir /
#      cache (the system apt state is untouched, nothing is upgraded) and unpacks
#      them with `dpkg -x` into a project-local prefix:
#        $KUASAR_DEPS_DIR            (default: <repo>/.deps)
#          containerd-1.7/usr/bin/{containerd,ctr,containerd-shim-runc-v2}
#          containerd-2/usr/bin/{containerd,ctr,containerd-shim-runc-v2}
#          apt/                      private apt state (sources, lists, cache)
#      Nothing is written to /run/containerd, /var/lib/containerd or /etc/containerd.
#   3. Unpacks the kuasar-io containerd fork's prebuilt daemon (its `main` branch, 1.7.0
#      based; provenance in the PROVENANCE.md beside it) into
#        $KUASAR_DEPS_DIR/containerd-kuasar-io/usr/bin/containerd
#      after checking its pinned sha256. It is found at $KUASAR_IO_CONTAINERD_XZ, else
#      <repo>/vendor/kuasar-io-containerd/containerd.xz, else
#      <any parent of the repo>/shared/vendor/kuasar-io-containerd/containerd.xz; when none is there the
#      step is skipped (said loudly) and the fork's e2e tests fail naming this script.
#   4. Unpacks crun from Debian `trixie` (1.21; bookworm's 1.8.1 is older and slower) with
#      the trixie glibc it needs and its yajl, into
#        $KUASAR_DEPS_DIR/crun/usr/bin/crun
#        $KUASAR_DEPS_DIR/crun/usr/lib/x86_64-linux-gnu/{ld-linux-x86-64.so.2,libc.so.6,libyajl.so.2,...}
#      It runs through that private loader (`ld-linux-x86-64.so.2 --library-path ... crun`), so
#      the system's glibc stays as it is. Used by `runtime = "crun"` of the runc sandboxer.
#   5. Unpacks runsc from Debian `trixie` (2024-07; a static binary, so it runs on bookworm
#      as is: systrap, directfs, a netstack that works here, `runsc update`) into
#        $KUASAR_DEPS_DIR/runsc-2024/usr/bin/runsc
#      The gvisor sandboxer takes it by default when present; bookworm's runsc (2022-12,
#      step 1) stays installed and selectable with `runsc_binary`.
#   6. Unpacks WasmEdge from Debian `trixie` (0.14; not in bookworm) the same way: the
#      `wasmedge` CLI, libwasmedge0 and every library they load (trixie's glibc, libstdc++,
#      LLVM 19 and its own dependencies) into
#        $KUASAR_DEPS_DIR/wasmedge/usr/bin/wasmedge
#        $KUASAR_DEPS_DIR/wasmedge/usr/lib/x86_64-linux-gnu/{ld-linux-x86-64.so.2,libwasmedge.so.0,...}
#      run through its private loader, and its C headers (libwasmedge-dev) under usr/include/wasmedge,
#      which native/ builds the pod-level wasm host (kuasar-wasm-host) against. Used by
#      `wasm_engine = "wasmedge"` and `"wasmedge-pod"` of the wasm sandboxer.
#   7. Prints a one-line summary of the versions.
#   `source packaging/deps-env.sh` exports CONTAINERD17_BIN_DIR etc. for shells;
#   the TS harness (testing/deps.ts) reads the same variables and falls back
#   to the same default prefix, so sourcing it is optional.
#
# Environment:
#   KUASAR_DEPS_DIR       prefix for the containerd copies (default <repo>/.deps)
#   KUASAR_DEPS_REFRESH=1 re-download both containerd packages even if present
#   KUASAR_SKIP_APT=1     skip step 1 (system packages)
#   KUASAR_IO_CONTAINERD_XZ  the fork's containerd.xz (step 3)
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPS_DIR=${KUASAR_DEPS_DIR:-$REPO_DIR/.deps}
export DEBIAN_FRONTEND=noninteractive

log() { printf '[install-deps] %s\n' "$*" >&2; }
die() { printf '[install-deps] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (apt-get install)"
[ -r /etc/debian_version ] || die "this script targets Debian 12 (bookworm)"

# ---------------------------------------------------------------------------
# 1. System packages (bookworm)
# ---------------------------------------------------------------------------
# runc                        OCI runtime used by the runc sandboxer and the stock runc shim
# qemu-system-x86             VMM for the vmm sandboxer (qemu-system-common ships virtiofsd)
# runsc                       gVisor for the gvisor sandboxer
# erofs-utils                 mkfs.erofs for `make -C native`: the gvisor pods' root image (their
#                             root container boots from it without a gofer process)
# umoci                       OCI image unpacking helper
# busybox-static              /bin/busybox for test images and the guest initrd
# containernetworking-plugins CNI plugins under /usr/lib/cni (CRI pod networking)
# iptables                    used by the CNI bridge/portmap plugins (ipMasq, hostports)
# cpio                        guest initrd builder
# iproute2 util-linux mount   `ip`, `unshare`, `nsenter`, `mount` for the e2e isolation wrapper
# tar gzip                    OCI layer building in the test harness
# tini                        child subreaper for the e2e runner: orphaned shims (reparented
#                             away from containerd) are reaped instead of piling up as zombies
# linux-image-cloud-amd64     guest kernel for the vmm sandboxer (virtio* as modules, no 9p;
#                             VM templates boot the generic kernel of its ABI, unpacked
#                             privately: fetch_guest_kernel)
# gcc make libc6-dev          build the static pod holder (native/, `npm run build:native`)
# xz-utils                    unpacks the kuasar-io containerd fork's prebuilt daemon
APT_PACKAGES=(
  runc qemu-system-x86 runsc erofs-utils umoci busybox-static containernetworking-plugins
  iptables cpio iproute2 util-linux mount tar gzip tini linux-image-cloud-amd64
  gcc make libc6-dev xz-utils
)

is_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

# True when the system package lists are missing or older than one day.
system_lists_stale() {
  local newest
  newest=$(find /var/lib/apt/lists -maxdepth 1 -name '*Release' -newermt '-1 day' -print -quit 2>/dev/null || true)
  [ -z "$newest" ]
}

install_system_packages() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    is_installed "$p" || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "system packages: all present"
    return
  fi
  log "system packages missing: ${missing[*]}"
  if system_lists_stale; then
    log "apt-get update (system lists absent or stale)"
    apt-get update -qq
  fi
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    # Lists can be fresh by mtime yet point at superseded .debs (404): update once, retry.
    log "install failed; apt-get update and retry"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# ---------------------------------------------------------------------------
# 2. containerd 1.7 (trixie) and 2.x (sid) into the prefix
# ---------------------------------------------------------------------------
APT_PRIV="$DEPS_DIR/apt"

# Print a deb822 sources file for suite $1 derived from the machine's own Debian
# entry: same URIs, Components and Signed-By, Suites replaced, security entries
# (and duplicate paragraphs after rewriting) dropped.
make_private_sources() {
  local suite=$1 src=/etc/apt/sources.list.d/debian.sources
  if [ -r "$src" ]; then
    awk -v suite="$suite" '
      function flush() {
        if (para != "" && !security && !(para in seen)) { seen[para] = 1; printf "%s\n", para }
        para = ""; security = 0
      }
      /^[[:space:]]*$/ { flush(); next }
      /^[[:space:]]*#/ { next }
      /^URIs:/   { if ($0 ~ /security/) security = 1 }
      /^Suites:/ { if ($0 ~ /-security/) security = 1; $0 = "Suites: " suite }
      /^Types:/  { $0 = "Types: deb" }
      { para = para $0 "\n" }
      END { flush() }
    ' "$src"
  elif [ -r /etc/apt/sources.list ]; then
    # One-line format fallback: first plain "deb <uri> <suite> ..." that is not security.
    local uri
    uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
    [ -n "$uri" ] || die "no Debian entry found in /etc/apt/sources.list"
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" "$suite"
  else
    die "no Debian apt source entry found (looked at $src and /etc/apt/sources.list)"
  fi
}

# private_apt SUITE TOOL ARGS...: run apt-get / apt-cache (TOOL) with private
# sources, lists and cache for SUITE; the system's apt state is neither read nor written.
private_apt() {
  local suite=$1 tool=$2; shift 2
  "$tool" -q \
    -o Dir::Etc::SourceList="$APT_PRIV/$suite.sources" \
    -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State::Lists="$APT_PRIV/lists-$suite" \
    -o Dir::Cache="$APT_PRIV/cache-$suite" \
    -o Dir::State::status=/dev/null \
    -o APT::Get::List-Cleanup=false \
    -o APT::Sandbox::User=root \
    "$@"
}

# fetch_containerd SUITE NAME VERSION_PREFIX: unpack `containerd` from SUITE into
# $DEPS_DIR/NAME unless it is there already and runs.
fetch_containerd() {
  local suite=$1 name=$2 want=$3
  local dest="$DEPS_DIR/$name" stamp="$DEPS_DIR/$name/.deb-version"
  if [ "${KUASAR_DEPS_REFRESH:-0}" != 1 ] && [ -s "$stamp" ] \
    && "$dest/usr/bin/containerd" --version >/dev/null 2>&1; then
    log "$name: present ($(cat "$stamp"))"
    return
  fi
  log "$name: fetching containerd from Debian $suite"
  mkdir -p "$APT_PRIV/lists-$suite/partial" "$APT_PRIV/cache-$suite/archives/partial"
  make_private_sources "$suite" >"$APT_PRIV/$suite.sources"
  private_apt "$suite" apt-get update
  local ver
  ver=$(private_apt "$suite" apt-cache show --no-all-versions containerd 2>/dev/null \
    | awk '/^Version:/ { print $2; exit }') || true
  [ -n "$ver" ] || die "$suite: no containerd package in the private lists"
  case "$ver" in
    "$want"*) ;;
    *) die "$suite: containerd $ver does not match the wanted ${want}x" ;;
  esac
  local scratch
  scratch=$(mktemp -d "$APT_PRIV/dl.XXXXXX")
  (cd "$scratch" && private_apt "$suite" apt-get download "containerd=$ver")
  local deb
  deb=$(find "$scratch" -maxdepth 1 -name 'containerd_*.deb' -print -quit)
  [ -n "$deb" ] || die "$suite: apt-get download produced no .deb"
  rm -rf "$dest.new"
  mkdir -p "$dest.new"
  dpkg -x "$deb" "$dest.new"
  rm -rf "$scratch"
  local b out
  for b in containerd ctr containerd-shim-runc-v2; do
    [ -x "$dest.new/usr/bin/$b" ] || die "$suite: package lacks usr/bin/$b"
  done
  if ! out=$("$dest.new/usr/bin/containerd" --version 2>&1); then
    # Debian builds these with cgo against the suite's glibc; say so plainly.
    die "$name: containerd from $suite does not run here (needs a newer glibc than $(ldd --version | head -1 | awk '{print $NF}')?): $out"
  fi
  printf '%s\n' "$ver" >"$dest.new/.deb-version"
  rm -rf "$dest"
  mv "$dest.new" "$dest"
  log "$name: installed $ver"
}

# sha256 of the kuasar-io fork's containerd.xz (main@959e3731, v1.7.0-kuasar-main-g959e37318).
KUASAR_IO_XZ_SHA256=3c18dee99f3a95a063b02a6ec04c175ca58d9ab40edf22383222ce7bbec36534

# install_kuasar_io_containerd: unpack the fork's daemon into $DEPS_DIR/containerd-kuasar-io
# unless the same one is there and runs.
install_kuasar_io_containerd() {
  local dest="$DEPS_DIR/containerd-kuasar-io" xz="" c up
  # The shared vendor folder sits beside the checkout (../shared), or beside one of its
  # parents for a clone made deeper (CI's clean clone): look up the tree.
  for c in "${KUASAR_IO_CONTAINERD_XZ:-}" "$REPO_DIR/vendor/kuasar-io-containerd/containerd.xz"; do
    if [ -n "$c" ] && [ -r "$c" ]; then xz=$c; break; fi
  done
  up=$REPO_DIR
  while [ -z "$xz" ] && [ "$up" != / ]; do
    up=$(dirname "$up")
    c="$up/shared/vendor/kuasar-io-containerd/containerd.xz"
    if [ -r "$c" ]; then xz=$c; fi
  done
  if [ -z "$xz" ]; then
    log "containerd-kuasar-io: SKIPPED, no containerd.xz found (set KUASAR_IO_CONTAINERD_XZ); the kuasar-io fork's tests cannot run"
    return
  fi
  if [ "${KUASAR_DEPS_REFRESH:-0}" != 1 ] && [ "$(cat "$dest/.sha256" 2>/dev/null)" = "$KUASAR_IO_XZ_SHA256" ] \
    && "$dest/usr/bin/containerd" --version >/dev/null 2>&1; then
    log "containerd-kuasar-io: present"
    return
  fi
  local sum
  sum=$(sha256sum "$xz" | awk '{print $1}')
  [ "$sum" = "$KUASAR_IO_XZ_SHA256" ] || die "$xz: sha256 $sum, want $KUASAR_IO_XZ_SHA256"
  rm -rf "$dest.new"
  mkdir -p "$dest.new/usr/bin"
  xz -dc "$xz" >"$dest.new/usr/bin/containerd"
  chmod 0755 "$dest.new/usr/bin/containerd"
  "$dest.new/usr/bin/containerd" --version >/dev/null 2>&1 || die "$xz: the unpacked containerd does not run here"
  printf '%s\n' "$KUASAR_IO_XZ_SHA256" >"$dest.new/.sha256"
  rm -rf "$dest"
  mv "$dest.new" "$dest"
  log "containerd-kuasar-io: installed from $xz"
}

# fetch_private SUITE NAME MAIN READY PRUNE PACKAGE...: unless $DEPS_DIR/NAME is stamped and
# `READY DIR` succeeds on it, download PACKAGEs from SUITE through the private apt state,
# unpack them all into $DEPS_DIR/NAME, run `PRUNE DIR` (or nothing for ""), check it with
# READY and stamp it with the version of the MAIN package. The system is untouched.
fetch_private() {
  local suite=$1 name=$2 main=$3 ready=$4 prune=$5
  shift 5
  local dest="$DEPS_DIR/$name"
  if [ "${KUASAR_DEPS_REFRESH:-0}" != 1 ] && [ -s "$dest/.deb-version" ] && "$ready" "$dest"; then
    log "$name: present ($(cat "$dest/.deb-version"))"
    return
  fi
  log "$name: fetching $* from Debian $suite"
  mkdir -p "$APT_PRIV/lists-$suite/partial" "$APT_PRIV/cache-$suite/archives/partial"
  [ -s "$APT_PRIV/$suite.sources" ] || make_private_sources "$suite" >"$APT_PRIV/$suite.sources"
  local scratch
  scratch=$(mktemp -d "$APT_PRIV/dl.XXXXXX")
  # Lists from the containerd step are reused; stale ones (a 404) are refreshed once.
  if ! (cd "$scratch" && private_apt "$suite" apt-get download "$@"); then
    private_apt "$suite" apt-get update
    (cd "$scratch" && private_apt "$suite" apt-get download "$@")
  fi
  local main_deb deb
  main_deb=$(find "$scratch" -maxdepth 1 -name "${main}_*.deb" -print -quit)
  [ -n "$main_deb" ] || die "$suite: apt-get download produced no $main .deb"
  rm -rf "$dest.new"
  mkdir -p "$dest.new"
  for deb in "$scratch"/*.deb; do dpkg -x "$deb" "$dest.new"; done
  local ver
  ver=$(dpkg-deb -f "$main_deb" Version)
  rm -rf "$scratch"
  [ -z "$prune" ] || "$prune" "$dest.new"
  "$ready" "$dest.new" || die "$name from $suite does not run here"
  printf '%s\n' "$ver" >"$dest.new/.deb-version"
  rm -rf "$dest"
  mv "$dest.new" "$dest"
  log "$name: installed $ver"
}

PRIVATE_LIB="usr/lib/x86_64-linux-gnu"

# crun with the suite's libc6 and libyajl2, run through its own loader.
crun_ready() { "$1/$PRIVATE_LIB/ld-linux-x86-64.so.2" --library-path "$1/$PRIVATE_LIB" "$1/usr/bin/crun" --version >/dev/null 2>&1; }

# runsc is a static binary.
runsc_ready() { "$1/usr/bin/runsc" --version >/dev/null 2>&1; }

# The trixie packages whose libraries the wasmedge CLI loads (ldd closure of
# usr/bin/wasmedge and libwasmedge.so.0), so none is taken from the older system, and
# libwasmedge-dev, whose headers native/ builds the pod-level wasm host against.
WASMEDGE_PACKAGES=(
  wasmedge libwasmedge0 libwasmedge-dev libc6 libgcc-s1 libstdc++6 libfmt10 libspdlog1.15 libllvm19
  libzstd1 zlib1g libedit2 libffi8 libxml2 libz3-4 libbsd0 libmd0 libtinfo6 liblzma5
)

# The wasmedge CLI runs through its own loader, and native/ has its headers.
wasmedge_ready() {
  "$1/$PRIVATE_LIB/ld-linux-x86-64.so.2" --library-path "$1/$PRIVATE_LIB" "$1/usr/bin/wasmedge" --version >/dev/null 2>&1 \
    && [ -r "$1/usr/include/wasmedge/wasmedge.h" ]
}

# What the CLI loads and WasmEdge's own headers are kept: docs, other headers and LLVM's tools go.
wasmedge_prune() {
  find "$1/usr/include" -mindepth 1 -maxdepth 1 ! -name wasmedge -exec rm -rf {} +
  rm -rf "$1/usr/share" "$1/usr/lib/llvm-19/bin" "$1/usr/libexec"
}

# The kernel VM templates boot (packaging/build-guest.sh --template): Debian's generic kernel of
# the cloud kernel's ABI, which has 9p (the cloud one has not). Downloaded with the system's apt
# lists (the security suite carries it) and unpacked into $DEPS_DIR/guest-kernel, boot/ and
# lib/modules/ only: never installed, the host's /boot and boot loader are untouched.
fetch_guest_kernel() {
  local dest="$DEPS_DIR/guest-kernel" cloud release pkg scratch deb ver
  cloud=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$cloud" ]; then
    log "guest-kernel: no cloud kernel in /boot to match; skipped (VM templates use the pods' guest)"
    return
  fi
  release=${cloud#/boot/vmlinuz-}
  release=${release%-cloud-amd64}-amd64
  pkg=linux-image-$release
  if [ "${KUASAR_DEPS_REFRESH:-0}" != 1 ] && [ -s "$dest/.deb-version" ] && [ -f "$dest/boot/vmlinuz-$release" ]; then
    log "guest-kernel: present ($pkg $(cat "$dest/.deb-version"))"
    return
  fi
  log "guest-kernel: fetching $pkg"
  scratch=$(mktemp -d "$APT_PRIV/dl.XXXXXX")
  (cd "$scratch" && apt-get -q download "$pkg") || die "guest-kernel: apt-get download $pkg failed"
  deb=$(find "$scratch" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)
  [ -n "$deb" ] || die "guest-kernel: apt-get download produced no $pkg .deb"
  rm -rf "$dest.new"
  mkdir -p "$dest.new"
  dpkg -x "$deb" "$dest.new"
  ver=$(dpkg-deb -f "$deb" Version)
  rm -rf "$scratch" "$dest.new/usr" "$dest.new/etc"
  [ -f "$dest.new/boot/vmlinuz-$release" ] && [ -n "$(find "$dest.new/lib/modules/$release" -name 9p.ko -print -quit)" ] \
    || die "guest-kernel: $pkg has no vmlinuz-$release or no 9p module"
  printf '%s\n' "$ver" >"$dest.new/.deb-version"
  rm -rf "$dest"
  mv "$dest.new" "$dest"
  log "guest-kernel: installed $pkg $ver (private, $dest)"
}

# ---------------------------------------------------------------------------
main() {
  if [ "${KUASAR_SKIP_APT:-0}" != 1 ]; then
    install_system_packages
  fi
  mkdir -p "$DEPS_DIR" "$APT_PRIV"
  fetch_containerd trixie containerd-1.7 1.7.
  fetch_containerd sid containerd-2 2.
  install_kuasar_io_containerd
  fetch_private trixie crun crun crun_ready "" crun libc6 libyajl2
  fetch_private trixie runsc-2024 runsc runsc_ready "" runsc
  fetch_private trixie wasmedge wasmedge wasmedge_ready wasmedge_prune "${WASMEDGE_PACKAGES[@]}"
  fetch_guest_kernel

  local v17 v2 runc_v runsc_v qemu_v kernel_v busybox_v
  v17=$("$DEPS_DIR/containerd-1.7/usr/bin/containerd" --version | awk '{print $3}')
  v2=$("$DEPS_DIR/containerd-2/usr/bin/containerd" --version | awk '{print $3}')
  runc_v=$(runc --version 2>/dev/null | awk 'NR==1 {print $3}')
  runsc_v=$(dpkg-query -W -f='${Version}' runsc 2>/dev/null || echo none)
  qemu_v=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || echo none)
  kernel_v=$(dpkg-query -W -f='${Depends}' linux-image-cloud-amd64 2>/dev/null | sed 's/ .*//' || echo none)
  busybox_v=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo none)
  printf 'kuasar deps: crun=%s (private, %s)\n' "$(cat "$DEPS_DIR/crun/.deb-version")" "$DEPS_DIR/crun"
  printf 'kuasar deps: runsc-2024=%s (private, %s)\n' "$(cat "$DEPS_DIR/runsc-2024/.deb-version")" "$DEPS_DIR/runsc-2024"
  local vfork
  vfork=$("$DEPS_DIR/containerd-kuasar-io/usr/bin/containerd" --version 2>/dev/null | awk '{print $3}') || vfork=none
  printf 'kuasar deps: wasmedge=%s (private, %s)\n' "$(cat "$DEPS_DIR/wasmedge/.deb-version")" "$DEPS_DIR/wasmedge"
  printf 'kuasar deps: containerd-kuasar-io=%s\n' "${vfork:-none}"
  printf 'kuasar deps: containerd-1.7=%s (deb %s) containerd-2=%s (deb %s) runc=%s runsc=%s qemu=%s guest-kernel=%s busybox-static=%s prefix=%s\n' \
    "$v17" "$(cat "$DEPS_DIR/containerd-1.7/.deb-version")" "$v2" "$(cat "$DEPS_DIR/containerd-2/.deb-version")" \
    "$runc_v" "$runsc_v" "$qemu_v" "$kernel_v" "$busybox_v" "$DEPS_DIR"
}

main "$@"
