import { fileURLToPath } from "node:url";
import { hybridWithV2Controllers } from "../../oci-runtime/cgroup-layout.js";
import { locateOciRuntime, type OciRuntimeCommand } from "../../oci-runtime/oci-runtime-command.js";
import type { Logger } from "../../log/logger.js";
import { probeOciRuntime, type ProbeOptions } from "./runtime-probe.js";

/** Where `make -C native` puts the cgroup2 hider, relative to this module in `dist/src/sandboxers/runc/`. */
export const defaultHideCgroup2Binary: string = fileURLToPath(new URL("../../../../build/native/kuasar-hide-cgroup2", import.meta.url));

/** The OCI runtime a runc sandboxer runs its containers with, and why. */
export interface OciRuntimeChoice {
  command: OciRuntimeCommand;
  /** Why this one: shown in every sandbox Status (`oci_runtime_reason`) and logged at start. */
  reason: string;
}

/** What {@link chooseOciRuntime} needs besides the configured names. */
export interface ChoiceOptions extends ProbeOptions {
  /** The cgroup2 hider (default: build/native/kuasar-hide-cgroup2). */
  hideCgroup2Binary?: string;
  /** Whether the host is hybrid with controllers on cgroup2 (injectable for tests). */
  hybridWithV2Controllers?: () => boolean;
  /** The probe (injectable for tests). */
  probe?: (cmd: OciRuntimeCommand, o: ProbeOptions) => Promise<void>;
  /** Where the private crun is (default: install-deps.sh's) and the PATH searched (default the daemon's): for tests. */
  where?: { crunDir?: string; path?: string };
}

/**
 * Decides the runtime at sandboxer start. `runc` is taken as configured (it is the fallback:
 * nothing to probe it against). Any other runtime must exist (else the start fails, naming
 * the key) and must pass {@link probeOciRuntime}; on a hybrid host whose cgroup2 mount has
 * controllers, which crun refuses, it is probed again run through kuasar-hide-cgroup2 (the
 * v1 view; see native/hide-cgroup2). A runtime that fails is replaced by runc, with a
 * warning and the reason in every Status.
 */
export async function chooseOciRuntime(runtime: string, runcBinary: string, o: ChoiceOptions, log: Logger): Promise<OciRuntimeChoice> {
  const runc = (): OciRuntimeCommand => locateOciRuntime("runc", runcBinary, o.where);
  if (runtime === "runc") return { command: runc(), reason: "configured" };
  const wanted = locateOciRuntime(runtime, runcBinary, o.where);
  const probe = o.probe ?? probeOciRuntime;
  const attempts: { command: OciRuntimeCommand; reason: string }[] = [{ command: wanted, reason: "configured; probe passed" }];
  if ((o.hybridWithV2Controllers ?? hybridWithV2Controllers)()) {
    attempts.push({
      command: { ...wanted, launcher: [o.hideCgroup2Binary ?? defaultHideCgroup2Binary, ...wanted.launcher] },
      reason: "configured; probe passed with the hybrid host's cgroup2 mount hidden (v1 controllers only)",
    });
  }
  const failures: string[] = [];
  for (const a of attempts) {
    try {
      await probe(a.command, o);
      log.info({ oci_runtime: a.command.name, binary: a.command.binary, launcher: a.command.launcher, reason: a.reason }, "OCI runtime chosen");
      return a;
    } catch (err) {
      failures.push(`${a.command.launcher.length > wanted.launcher.length ? "with cgroup2 hidden" : "as it is"}: ${(err as Error).message}`);
    }
  }
  const reason = `${wanted.name} failed its probe (${failures.join("; ")}); runc used`;
  const fallback = { command: runc(), reason };
  log.warn({ oci_runtime: "runc", wanted: runtime, reason }, "OCI runtime falls back to runc");
  return fallback;
}

/** The Status info keys of a choice. */
export function runtimeStatusInfo(c: OciRuntimeChoice): Record<string, string> {
  return { oci_runtime: c.command.name, oci_runtime_binary: c.command.binary, oci_runtime_reason: c.reason };
}
