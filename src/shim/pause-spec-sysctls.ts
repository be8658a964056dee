/**
 * What containerd 2.x's CRI adds to a pause spec's `linux.sysctl` on its own (its
 * `enable_unprivileged_ports` and `enable_unprivileged_icmp`, on by default since 2.0)
 * when the pod set neither key itself.
 */
const CONTAINERD_UNPRIVILEGED_DEFAULTS: Readonly<Record<string, string>> = {
  "net.ipv4.ip_unprivileged_port_start": "0",
  "net.ipv4.ping_group_range": "0 2147483647",
};

/**
 * A pause spec's sysctls split into the pod's and containerd's defaults. A pod asking
 * for exactly a default value cannot be told from containerd; it is taken as the default
 * (an engine that sets sysctls sets it all the same).
 */
export function splitPauseSpecSysctls(sysctl: Readonly<Record<string, string>> | undefined): { sysctls: Record<string, string>; runtimeSysctls: Record<string, string> } {
  const sysctls: Record<string, string> = {};
  const runtimeSysctls: Record<string, string> = {};
  for (const [k, v] of Object.entries(sysctl ?? {})) {
    if (CONTAINERD_UNPRIVILEGED_DEFAULTS[k] === v) runtimeSysctls[k] = v;
    else sysctls[k] = v;
  }
  return { sysctls, runtimeSysctls };
}
