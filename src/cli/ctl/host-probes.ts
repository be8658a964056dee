import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { connectUnix } from "../../fs/long-socket-path.js";
import { runCaptured } from "../../process/run-captured.js";

/** The first line `BIN --version` prints, or undefined when it does not run. */
export async function versionOf(binary: string, flag = "--version"): Promise<string | undefined> {
  try {
    const r = await runCaptured([binary, flag], 10_000);
    const line = (r.stdout || r.stderr).split("\n").find((l) => l.trim() !== "");
    return r.status === 0 && line ? line.trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Whether something accepts connections on a unix socket path. */
export function socketServes(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connectUnix(path);
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(3000, () => done(false));
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

/** The cgroup layout: v2 only, v1 only, or hybrid (v1 controllers plus a cgroup2 mount). */
export function cgroupLayout(mountinfo = readFileSync("/proc/self/mountinfo", "utf8")): "v2" | "v1" | "hybrid" | "none" {
  let v1 = false;
  let v2 = false;
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    const fsType = f[f.indexOf("-") + 1];
    if (fsType === "cgroup2") v2 = true;
    if (fsType === "cgroup") v1 = true;
  }
  return v1 && v2 ? "hybrid" : v2 ? "v2" : v1 ? "v1" : "none";
}

/** Whether /dev/kvm exists and this user may open it read-write. */
export function kvmAccess(): "usable" | "absent" | "no access" {
  if (!existsSync("/dev/kvm")) return "absent";
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
    return "usable";
  } catch {
    return "no access";
  }
}
