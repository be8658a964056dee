import { accessSync, constants, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../../log/logger.js";
import { vmPaths } from "./guest-paths.js";
import type { Accelerator, Hypervisor } from "./driver/hypervisor.js";
import type { HypervisorOptions } from "./hypervisor-options.js";
import { killQuietly } from "../../pod/pod.js";
import { bootVm } from "./vm-boot.js";

/** The accelerator VMs boot with, and why. */
export interface AcceleratorChoice {
  accelerator: Accelerator;
  reason: string;
}

/**
 * Decides between KVM and software emulation (TCG). With `accelerator = "auto"`
 * a KVM device is not trusted until a guest actually booted on it: a probe VM
 * must reach its agent within `kvm_probe_timeout_ms` (on some hosts /dev/kvm
 * exists but guests hang). The fallback is logged as a warning and reported in
 * every sandbox's Status.
 */
export function chooseAccelerator(h: Hypervisor, o: HypervisorOptions, stateDir: string, log: Logger): Promise<AcceleratorChoice> {
  if (o.accelerator === "kvm") return Promise.resolve({ accelerator: "kvm", reason: "configured" });
  if (o.accelerator === "tcg") return Promise.resolve({ accelerator: "tcg", reason: "configured" });
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch (err) {
    const reason = `/dev/kvm unusable (${(err as NodeJS.ErrnoException).code ?? "error"})`;
    log.warn({ reason }, "KVM unavailable: VMs run under TCG software emulation (much slower)");
    return Promise.resolve({ accelerator: "tcg", reason });
  }
  return probeKvm(h, o, stateDir, log);
}

async function probeKvm(h: Hypervisor, o: HypervisorOptions, stateDir: string, log: Logger): Promise<AcceleratorChoice> {
  const dir = join(stateDir, "kvm-probe");
  const paths = vmPaths(stateDir, dir, "kvm-probe");
  const started = Date.now();
  let pids: number[] = [];
  try {
    const vm = await bootVm(
      h,
      o,
      { id: "kvm-probe", paths, accelerator: "kvm", vcpus: 1, memoryMb: 128, nic: undefined, netnsPath: undefined, cgroups: [], timeoutMs: o.kvmProbeTimeoutMs },
      log,
      (q, v) => (pids = [q, v]),
    );
    await vm.agent.close().catch(() => {});
    const reason = `probe guest answered in ${Date.now() - started} ms`;
    log.info({ reason }, "KVM works: VMs boot with KVM");
    return { accelerator: "kvm", reason };
  } catch (err) {
    const reason = `KVM probe guest did not boot within ${o.kvmProbeTimeoutMs} ms: ${(err as Error).message.replace(/\s*\n\s*/g, " | ")}`;
    log.warn({ reason }, "KVM FALLBACK: /dev/kvm exists but a guest did not boot on it; VMs run under TCG software emulation (much slower)");
    return { accelerator: "tcg", reason };
  } finally {
    for (const pid of pids) killQuietly(pid);
    for (const s of [paths.agentSocket, paths.qmpSocket, paths.fsSocket]) rmSync(s, { force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}
