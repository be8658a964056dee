import { which } from "../../fs/which.js";

/**
 * runsc refuses `--network=sandbox` when it believes it runs in the host's
 * network namespace, which it tells by `/proc/sys/net/core/rmem_default`
 * existing: kernels that give every network namespace its own net.core
 * sysctls make that true everywhere. The command that sets up the sandbox's
 * network (the root container's `runsc run`, or `runsc restore` of a restored
 * one) therefore runs in a private mount namespace with an empty read-only
 * tmpfs over `/proc/sys/net`. The sandbox and the root gofer that `runsc run`
 * starts are born in that namespace too, but each moves to a root of its own
 * (an empty tmpfs; the container's rootfs) before it serves anything, so the
 * mask stays behind; every other command sees the real one.
 */
export const HIDE_HOST_NET_SYSCTLS = "mount -t tmpfs -o ro,size=4k,mode=0555 kuasar-hide-net-sysctls /proc/sys/net";

/** `argv` run with the host's net sysctls hidden (see above); `unshare` is its absolute path (the holder does no PATH search). */
export function withHostNetSysctlsHidden(argv: readonly string[], unshare = which("unshare") ?? "/usr/bin/unshare"): string[] {
  return [unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", `${HIDE_HOST_NET_SYSCTLS} && exec "$@"`, "runsc", ...argv];
}
