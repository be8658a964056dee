/**
 * The floor under a VM pod start on this machine: the same kernel and initrd booted directly
 * (virtiofsd + QEMU, as the vmm sandboxer launches them) until the guest agent first answers.
 * Whatever our pod start adds on top (containerd, kuasard, the container) is the ratio to it.
 *
 * @internal benchmark, not part of the runtime
 */
import { access, constants, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { which } from "../src/fs/which.js";
import { silentLogger } from "../src/log/logger.js";
import { killQuietly, waitGone } from "../src/pod/pod.js";
import { chooseAccelerator, type AcceleratorChoice } from "../src/sandboxers/vmm/accelerator-probe.js";
import { vmPaths } from "../src/sandboxers/vmm/guest-paths.js";
import { defaultHypervisorOptions, type HypervisorOptions } from "../src/sandboxers/vmm/hypervisor-options.js";
import { QemuDriver } from "../src/sandboxers/vmm/qemu/qemu-driver.js";
import { bootVm } from "../src/sandboxers/vmm/vm-boot.js";
import type { VmmFloorSample } from "./vmm-results.js";

/** The hypervisor options the sandboxer runs with when kuasard.toml sets none. */
export const vmmBenchHypervisor = (): HypervisorOptions => defaultHypervisorOptions();

/** Why VM pods cannot run here (no guest image, no QEMU, no virtiofsd), or undefined. */
export async function vmmMissing(o: HypervisorOptions = vmmBenchHypervisor()): Promise<string | undefined> {
  for (const [path, what] of [
    [o.kernelPath, "guest kernel (packaging/build-guest.sh)"],
    [o.initrdPath, "guest initrd (packaging/build-guest.sh)"],
    [o.virtiofsdPath, "virtiofsd (Debian package qemu-system-common)"],
  ] as const) {
    if (!(await access(path, constants.R_OK).then(() => true, () => false))) return `${what} missing at ${path}`;
  }
  if (which(o.path) === undefined) return `${o.path} not found on PATH (Debian package qemu-system-x86)`;
  return undefined;
}

/** Boots and stops bare VMs below `stateDir`, with the accelerator the sandboxer would pick. */
export class VmmFloor {
  private readonly driver: QemuDriver;

  private constructor(
    private readonly o: HypervisorOptions,
    private readonly stateDir: string,
    readonly choice: AcceleratorChoice,
  ) {
    this.driver = new QemuDriver(o.path, o.machineType);
  }

  /** Decides kvm/tcg exactly as the sandboxer does (a real KVM probe boot when /dev/kvm exists). */
  static async open(stateDir: string, o: HypervisorOptions = vmmBenchHypervisor()): Promise<VmmFloor> {
    await mkdir(stateDir, { recursive: true });
    const choice = await chooseAccelerator(new QemuDriver(o.path, o.machineType), o, stateDir, silentLogger());
    return new VmmFloor(o, stateDir, choice);
  }

  /** One boot to the agent's first answer (timed), then shutdown; never throws. */
  async bootOnce(i: number): Promise<VmmFloorSample> {
    const id = `floor-${i}`;
    const dir = join(this.stateDir, id);
    const paths = vmPaths(this.stateDir, dir, id);
    let pids: number[] = [];
    const t0 = performance.now();
    try {
      const vm = await bootVm(
        this.driver,
        this.o,
        { id, paths, accelerator: this.choice.accelerator, vcpus: this.o.vcpus, memoryMb: this.o.memoryInMb, nic: undefined, netnsPath: undefined, cgroups: [], timeoutMs: this.o.bootTimeoutMs },
        silentLogger(),
        (q, v) => (pids = [q, v]),
      );
      const ms = Math.round((performance.now() - t0) * 1000) / 1000;
      // A clean power-off first (what Stop does), then the recorded pids if they linger.
      await vm.agent.shutdown({ timeoutMs: 5000 }).catch(() => {});
      await vm.agent.close().catch(() => {});
      return { ok: true, boot_ms: ms, error: null };
    } catch (err) {
      return { ok: false, boot_ms: null, error: err instanceof Error ? err.message : String(err) };
    } finally {
      await Promise.all(pids.map((p) => waitGone(p, 3000)));
      for (const pid of pids) killQuietly(pid);
      await rm(dir, { recursive: true, force: true }).catch(() => {});
      for (const s of [paths.agentSocket, paths.qmpSocket, paths.fsSocket]) await rm(s, { force: true }).catch(() => {});
    }
  }
}
