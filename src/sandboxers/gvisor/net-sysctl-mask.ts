import { which } from "../../fs/which.js";

/**
 * runsc refuses `--network=sandbox` when it believes it runs in the host's
 * network namespace, which it tells by `/proc/sys/net/core/rmem_default`
 * existing: kernels that give every network namespace its own net.core
 * sysctls make that true everywhere. The command that sets up the sandbox's
 * network (the root container's `runsc start`) therefore runs in a private
 * mount namespace with an empty read-only tmpfs over `/proc/sys/net`; the
 * sandbox itself and every other command see the real one.
 */
export const HIDE_HOST_NET_SYSCTLS = "mount -t tmpfs -o ro,size=4k,mode=0555 kuasar-hide-net-sysctls /proc/sys/net";

/** `argv` run with the host's net sysctls hidden (see above); `unshare` is its absolute path (the holder does no PATH search). */
export function withHostNetSysctlsHidden(argv: readonly string[], unshare = which("unshare") ?? "/usr/bin/unshare"): string[] {
  return [unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", `${HIDE_HOST_NET_SYSCTLS} && exec "$@"`, "runsc-start", ...argv];
}
