import { readFileSync } from "node:fs";

/** Where a hybrid host mounts cgroup2 beside its v1 controllers. */
export const HYBRID_UNIFIED_MOUNT = "/sys/fs/cgroup/unified";

/**
 * True on a hybrid host whose cgroup2 mount holds controllers (this one: hugetlb), the
 * layout crun refuses; a pure v2 host (stock Debian 12) and a hybrid one with an empty
 * cgroup2 are fine for it as they are.
 */
export function hybridWithV2Controllers(mountinfo = readOr("/proc/self/mountinfo"), controllers = () => readOr(`${HYBRID_UNIFIED_MOUNT}/cgroup.controllers`)): boolean {
  const mounted = mountinfo.split("\n").some((l) => {
    const f = l.split(" ");
    const sep = f.indexOf("-");
    return f[4] === HYBRID_UNIFIED_MOUNT && sep > 0 && f[sep + 1] === "cgroup2";
  });
  return mounted && controllers().trim() !== "";
}

function readOr(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
