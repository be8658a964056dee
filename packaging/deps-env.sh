# shellcheck shell=bash
# Source me (`. packaging/deps-env.sh`) after packaging/install-deps.sh to get the
# locations of the project-local containerd copies and the system tools.
#
# The TypeScript test harness (testing/deps.ts) honours the same variables
# when they are set and otherwise derives the same defaults itself, so sourcing
# this file is only needed for interactive use or for overriding a location.
#
#   KUASAR_DEPS_DIR       prefix written by install-deps.sh (default <repo>/.deps)
#   CONTAINERD17_BIN_DIR  containerd 1.7 (Debian trixie): containerd, ctr, containerd-shim-runc-v2
#   CONTAINERD2_BIN_DIR   containerd 2.x (Debian sid):   containerd, ctr, containerd-shim-runc-v2
#   CONTAINERD_KUASAR_IO_BIN_DIR  the kuasar-io containerd fork (main, 1.7.0 based): containerd only
#   RUNC_BIN RUNSC_BIN BUSYBOX_BIN CNI_BIN_DIR   system binaries from bookworm packages

_kuasar_repo=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
export KUASAR_DEPS_DIR="${KUASAR_DEPS_DIR:-$_kuasar_repo/.deps}"
export CONTAINERD17_BIN_DIR="${CONTAINERD17_BIN_DIR:-$KUASAR_DEPS_DIR/containerd-1.7/usr/bin}"
export CONTAINERD2_BIN_DIR="${CONTAINERD2_BIN_DIR:-$KUASAR_DEPS_DIR/containerd-2/usr/bin}"
export CONTAINERD_KUASAR_IO_BIN_DIR="${CONTAINERD_KUASAR_IO_BIN_DIR:-$KUASAR_DEPS_DIR/containerd-kuasar-io/usr/bin}"
export RUNC_BIN="${RUNC_BIN:-/usr/sbin/runc}"
export RUNSC_BIN="${RUNSC_BIN:-/usr/bin/runsc}"
export BUSYBOX_BIN="${BUSYBOX_BIN:-/bin/busybox}"
export CNI_BIN_DIR="${CNI_BIN_DIR:-/usr/lib/cni}"
unset _kuasar_repo
