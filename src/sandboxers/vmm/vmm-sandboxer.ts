import { podInventory } from "../../pod/pod-inventory.js";
import type { Inventory } from "../../sandbox/sandboxer.js";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { which } from "../../fs/which.js";
import { HolderClient } from "../../holder/holder-client.js";
import { createSandboxRecord, podOf, recoverRecords, sandboxStatus, sumStats, updateSandboxRecord, waitStopped } from "../../pod/sandbox-records.js";
import { isAlive, killQuietly, Pod, waitGone } from "../../pod/pod.js";
import type { PodRuntime } from "../../pod/pod-runtime.js";
import type { SandboxRecord } from "../../pod/records.js";
import { unmountBelow } from "../../pod/rootfs.js";
import type { SandboxCreateRequest, Sandboxer, SandboxStatus, SandboxUpdate } from "../../sandbox/sandboxer.js";
import { sandboxTransitions, transition } from "../../sandbox/state-machine.js";
import { podSysctlsToApply } from "../../sandbox/pod-sysctls-applied.js";
import type { CgroupStats } from "../../task/task-backend.js";
import type { AcceleratorChoice } from "./accelerator-probe.js";
import { logPodLost } from "../../pod/pod-lost.js";
import { vmPaths } from "./guest-paths.js";
import { checkInGuest, runInGuest } from "./guest-runner.js";
import type { Accelerator, Hypervisor, VmControl } from "./driver/hypervisor.js";
import type { HypervisorOptions } from "./hypervisor-options.js";
import { guestNetworkScript, unwirePodNetwork, wirePodNetwork } from "./pod-network.js";
import { bootVm, connectAgent } from "./vm-boot.js";
import { vmSize } from "./vm-sizing.js";
import { vmHostResources } from "./vm-host-resources.js";
import { applyPodResources, createPodCgroup, podCgroupPath, removePodCgroup } from "../../cgroup/pod-cgroup.js";
import type { VmmTasks } from "./vmm-tasks.js";
import { StartGuard } from "../../sandbox/start-guard.js";

/** Exit status reported for a sandbox, and its processes, when the VM died under them. */
const LOST_EXIT_STATUS = 255;
/**
 * How far a guest's clock may trail the host's when exits are matched to processes: the guest
 * reads the RTC to the second at boot and runs no NTP; guest pids only recur after pid_max
 * spawns, far beyond this window.
 */
const GUEST_CLOCK_SKEW_MS = 60_000;
/** Deadline of guest setup commands (network, hostname), in ms. */
const SETUP_TIMEOUT_MS = 30_000;

/** What a VM pod's record adds to a sandbox record. */
export interface VmState {
  hypervisor: string;
  accelerator: Accelerator;
  acceleratorReason: string;
  vcpus: number;
  memoryMb: number;
  qemuPid: number;
  virtiofsdPid: number;
  /** The CNI interface whose traffic is redirected to the VM's tap ("" without network). */
  netInterface: string;
}

type VmRecord = SandboxRecord & { vm?: VmState };

/**
 * The vmm sandboxer: each pod is a micro-VM whose guest agent (our holder,
 * pid 1 in the guest) runs the pod's containers with runc; the Sandbox API and
 * the Task API stay on the host.
 */
export class VmmSandboxer implements Sandboxer {
  readonly kind = "vmm";
  private readonly controls = new Map<string, VmControl>();
  private readonly starts = new StartGuard();

  constructor(
    private readonly ctx: PodRuntime,
    readonly tasks: VmmTasks,
    private readonly hypervisor: Hypervisor,
    private readonly options: HypervisorOptions,
    private readonly accelerator: Promise<AcceleratorChoice>,
  ) {
    mkdirSync(join(ctx.options.dir, "pods"), { recursive: true, mode: 0o711 });
    accelerator.then((c) => (this.acceleratorChosen = c), () => {});
  }

  /** The accelerator decision once the probe is done (see accelerator-probe.ts). */
  private acceleratorChosen: AcceleratorChoice | undefined;

  hostFacts(): Record<string, string> {
    const c = this.acceleratorChosen;
    return c ? { accelerator: c.accelerator, accelerator_reason: c.reason } : { accelerator: "probing", accelerator_reason: "the KVM probe guest has not finished booting" };
  }

  has(id: string): boolean {
    return this.ctx.pods.has(id);
  }

  async create(req: SandboxCreateRequest): Promise<void> {
    createSandboxRecord(this.ctx, req, () => {
      podCgroupPath(req.pod?.cgroupParent ?? "", req.id); // a bad cgroup_parent is refused here, before anything is made
      this.checkFiles();
    }, (r) => this.addPod(r));
  }

  async start(id: string, signal?: AbortSignal): Promise<SandboxStatus> {
    return this.starts.run(id, () => this.startVm(id, signal));
  }

  /** Start: network, VM, guest setup; rolled back whole on failure, or when the caller gave up before it was done. */
  private async startVm(id: string, signal: AbortSignal | undefined): Promise<SandboxStatus> {
    const pod = this.pod(id);
    const r = pod.record as VmRecord;
    transition(sandboxTransitions, `sandbox ${id}`, r.state, "ready");
    const choice = await this.accelerator;
    const size = vmSize(this.options, r.pod?.resources);
    const paths = this.tasks.paths(pod);
    const netns = r.pod?.hostNetwork ? "" : r.netnsPath;
    r.vm = { hypervisor: this.hypervisor.name, accelerator: choice.accelerator, acceleratorReason: choice.reason, ...size, qemuPid: 0, virtiofsdPid: 0, netInterface: "" };
    let net;
    try {
      const cgroups = this.makePodCgroup(r, size.memoryMb);
      net = netns ? await wirePodNetwork(netns) : undefined;
      r.vm.netInterface = net?.interface ?? "";
      this.ctx.sandboxes.put(id, r);
      const vm = await bootVm(
        this.hypervisor,
        this.options,
        { id, paths, accelerator: choice.accelerator, ...size, nic: net ? { tap: net.tap, mac: net.mac } : undefined, netnsPath: netns || undefined, cgroups, timeoutMs: this.options.bootTimeoutMs },
        pod.log,
        (qemuPid, virtiofsdPid) => {
          r.vm = { ...r.vm!, qemuPid, virtiofsdPid };
          r.holderPid = qemuPid;
          this.ctx.sandboxes.put(id, r);
        },
      );
      this.attach(pod, vm.agent);
      const setup = [`hostname ${shellQuote(r.pod?.hostname || id.slice(0, 63))}`];
      if (net) setup.push(guestNetworkScript(net));
      for (const [k, v] of Object.entries(podSysctlsToApply(r.pod))) setup.push(`sysctl -w ${shellQuote(`${k}=${v}`)}`);
      await checkInGuest(pod, paths, ["/bin/sh", "-c", setup.join("\n")], { timeoutMs: SETUP_TIMEOUT_MS });
      this.controls.set(id, await this.hypervisor.control({ controlSocket: paths.qmpSocket }));
      signal?.throwIfAborted();
      r.podPid = vm.qemuPid;
      r.state = "ready";
      this.ctx.sandboxes.put(id, r);
      pod.log.info({ ...r.vm }, choice.accelerator === "tcg" ? "sandbox started (software emulation: TCG)" : "sandbox started");
      return this.statusOf(pod, false);
    } catch (err) {
      pod.log.warn({ err }, "sandbox start failed; cleaning up");
      pod.stopping = true;
      await pod.detach();
      await this.releaseVm(pod);
      pod.stopping = false;
      r.vm = undefined;
      r.holderPid = 0;
      this.ctx.sandboxes.put(id, r);
      throw RuntimeError.from(err);
    }
  }

  inventory(): Inventory {
    return podInventory(this.ctx);
  }

  async platform(id: string): Promise<{ os: string; architecture: string; variant: string }> {
    this.pod(id);
    return { os: "linux", architecture: "amd64", variant: "" };
  }

  async stop(id: string, timeoutSecs: number): Promise<void> {
    await this.starts.settled(id);
    const pod = this.pod(id);
    if (pod.record.state === "stopped") return;
    const r = pod.record as VmRecord;
    const containers = [...this.ctx.containers.values()].filter((c) => c.pod === pod && c.record.init.state !== "stopped");
    if (timeoutSecs > 0 && containers.length > 0 && pod.client) {
      await Promise.all(containers.map((c) => this.tasks.kill(c.id, "", 15, true).catch(() => {})));
      const deadline = AbortSignal.timeout(timeoutSecs * 1000);
      await Promise.all(containers.map((c) => c.waitFor("", deadline).catch(() => {})));
    }
    pod.stopping = true;
    const qemuPid = r.vm?.qemuPid ?? 0;
    // The agent kills what is left, journals it, syncs and powers the guest off.
    await pod.client?.shutdown({ timeoutMs: 5000 }).catch((err: unknown) => pod.log.warn({ err }, "agent shutdown failed"));
    if (!(await waitGone(qemuPid, this.options.stopTimeoutMs))) {
      pod.log.warn({ qemu_pid: qemuPid }, "guest did not power off in time; quitting the VM");
      await this.controls.get(id)?.quit();
      if (!(await waitGone(qemuPid, 2000))) killQuietly(qemuPid);
      await waitGone(qemuPid, 2000);
    }
    await this.vmGone(pod, 0);
  }

  async wait(id: string, signal: AbortSignal): Promise<{ exitStatus: number; exitedAt: Date }> {
    return waitStopped(this.pod(id), signal);
  }

  async status(id: string, verbose: boolean): Promise<SandboxStatus> {
    return this.statusOf(this.pod(id), verbose);
  }

  async shutdown(id: string): Promise<void> {
    await this.starts.settled(id);
    const pod = this.pod(id);
    if (pod.record.state !== "stopped") await this.stop(id, 0);
    for (const c of [...this.ctx.containers.values()].filter((x) => x.pod === pod)) await this.tasks.remove(c);
    const paths = this.tasks.paths(pod);
    await unmountBelow(pod.dir);
    rmSync(pod.dir, { recursive: true, force: true });
    for (const s of [paths.agentSocket, paths.qmpSocket, paths.fsSocket]) rmSync(s, { force: true });
    const cgroup = pod.record.cgroupPath; // left by a stop that could not remove it
    if (cgroup && !(await removePodCgroup(cgroup))) pod.log.warn({ cgroup }, "pod cgroup could not be removed");
    this.ctx.sandboxes.delete(id);
    this.ctx.pods.delete(id);
    pod.log.info("sandbox removed");
  }

  async metrics(id: string): Promise<CgroupStats> {
    const pod = this.pod(id);
    if (pod.record.state !== "ready") throw new RuntimeError(Code.FailedPrecondition, `sandbox ${id} is ${pod.record.state}`);
    const running = [...this.ctx.containers.values()].filter((c) => c.pod === pod && c.record.init.state === "running");
    const sum = sumStats(await Promise.all(running.map((c) => this.tasks.stats(c.id))), true);
    // The VM's own memory bounds everything inside it.
    const vmBytes = BigInt((pod.record as VmRecord).vm?.memoryMb ?? 0) << 20n;
    if (sum.memoryLimitBytes === 0n || sum.memoryLimitBytes > vmBytes) sum.memoryLimitBytes = vmBytes;
    return sum;
  }

  async update(id: string, change: SandboxUpdate): Promise<void> {
    const pod = this.pod(id);
    const vm = (pod.record as VmRecord).vm;
    updateSandboxRecord(this.ctx, pod, change, (res) => {
      // The guest's RAM is fixed at boot (no memory hotplug): a memory limit that would size the VM otherwise is refused.
      const memoryMb = vm?.memoryMb ?? 0;
      const wanted = vmSize(this.options, res).memoryMb;
      if (res.memoryLimitBytes > 0 && wanted !== memoryMb) {
        throw new RuntimeError(Code.FailedPrecondition, `sandbox ${id}: its VM has ${memoryMb} MiB of RAM, fixed at boot; a pod memory limit of ${res.memoryLimitBytes} bytes needs a ${wanted} MiB VM (a new pod). CPU limits can change.`);
      }
      return vmHostResources(res, memoryMb);
    });
  }

  /**
   * Makes the pod cgroup under CRI's cgroup_parent (recorded first, so whatever
   * undoes this Start removes it) with the pod's limits for a VM of
   * `vmMemoryMb`; the dirs QEMU and virtiofsd start in.
   */
  private makePodCgroup(r: VmRecord, vmMemoryMb: number): string[] {
    const path = podCgroupPath(r.pod?.cgroupParent ?? "", r.id);
    if (!path) return [];
    r.cgroupPath = path;
    this.ctx.sandboxes.put(r.id, r);
    const dirs = createPodCgroup(path);
    const res = r.pod?.resources;
    if (res && (res.memoryLimitBytes > 0 || res.cpuQuota !== 0 || res.cpuPeriod > 0 || res.cpuShares > 0)) applyPodResources(path, vmHostResources(res, vmMemoryMb));
    return dirs;
  }

  async recover(): Promise<void> {
    const found = await recoverRecords(this.ctx, this.tasks, (r) => this.addPod(r), (pod) => this.reattach(pod));
    // What no good record owns (a VM pod's dir holds no holder pid: re-derived as stopped) goes.
    for (const pod of found.leftovers) await this.shutdown(pod.id).catch((err: unknown) => pod.log.error({ err }, "taking a leftover pod down failed"));
    // Output the agents held while we were away goes to the relays the containers' adoption opened.
    for (const pod of this.ctx.pods.values()) if (pod.client) this.tasks.attachStreams(pod);
    for (const pod of this.ctx.pods.values()) {
      if (pod.record.state === "ready" && !pod.client) await this.vmGone(pod, LOST_EXIT_STATUS);
    }
  }

  releaseOrphanOutputs(): Promise<void> {
    return this.tasks.releaseOrphanOutputs();
  }

  async close(): Promise<void> {
    for (const c of this.controls.values()) c.close();
    this.controls.clear();
    for (const pod of this.ctx.pods.values()) {
      pod.stopping = true; // a daemon exit is not a VM death
      this.tasks.dropPod(pod, false);
      await pod.detach();
    }
  }

  /** Runs a command in a sandbox's guest (root-only troubleshooting: `kuasar-ctl exec`). */
  async debugExec(id: string, _containerId: string | undefined, argv: string[], timeoutMs: number): Promise<{ status: number; stdout: string; stderr: string }> {
    const pod = this.pod(id);
    if (pod.record.state !== "ready" || !pod.client) throw new RuntimeError(Code.FailedPrecondition, `sandbox ${id} is ${pod.record.state}`);
    if (argv.length === 0) throw new RuntimeError(Code.InvalidArgument, "exec: a command is required");
    // The agent executes argv[0] as a path; a bare name is looked up on the guest's PATH.
    const resolved = argv[0]!.startsWith("/") ? argv : ["/bin/env", ...argv];
    return runInGuest(pod, this.tasks.paths(pod), resolved, { timeoutMs });
  }

  private addPod(record: SandboxRecord): Pod {
    const paths = vmPaths(this.ctx.options.dir, this.ctx.podDir(record.id), record.id);
    const pod = new Pod(record, this.ctx.podDir(record.id), this.ctx.log.child({ sandbox_id: record.id }), (p) => void this.agentLost(p), paths.journal, GUEST_CLOCK_SKEW_MS);
    pod.onExit((e) => this.tasks.handleExit(pod, e));
    this.ctx.pods.set(record.id, pod);
    return pod;
  }

  private attach(pod: Pod, agent: HolderClient): void {
    pod.attach(agent);
    this.tasks.attachStreams(pod);
  }

  /** After a daemon restart: reconnects the agent (and QMP) of a VM that should be running. */
  private async reattach(pod: Pod): Promise<void> {
    const r = pod.record as VmRecord;
    const paths = this.tasks.paths(pod);
    const qemuPid = r.vm?.qemuPid ?? 0;
    if (!isAlive(qemuPid)) return;
    try {
      pod.attach(await connectAgent(paths.agentSocket, qemuPid, Date.now() + 5000)); // streams once the containers are adopted
      pod.replayJournalFile(); // the agent's journal, read through the share
      this.controls.set(pod.id, await this.hypervisor.control({ controlSocket: paths.qmpSocket }));
      pod.log.info({ qemu_pid: qemuPid }, "VM re-attached");
    } catch (err) {
      pod.log.warn({ err, qemu_pid: qemuPid }, "VM running but its agent is unreachable");
    }
  }

  /** The agent connection dropped without Stop: reconnect if the VM lives, else the sandbox exited. */
  private async agentLost(pod: Pod): Promise<void> {
    const qemuPid = (pod.record as VmRecord).vm?.qemuPid ?? 0;
    await waitGone(qemuPid, 3000);
    if (pod.stopping || pod.record.state !== "ready") return;
    if (isAlive(qemuPid)) {
      try {
        this.attach(pod, await connectAgent(this.tasks.paths(pod).agentSocket, qemuPid, Date.now() + 5000));
        pod.replayJournalFile();
        pod.log.warn("agent connection dropped; reconnected");
        return;
      } catch (err) {
        pod.log.error({ err, qemu_pid: qemuPid }, "VM alive but its agent is unreachable");
        return;
      }
    }
    pod.log.warn({ qemu_pid: qemuPid }, "the VM died");
    await this.vmGone(pod, LOST_EXIT_STATUS);
    logPodLost(pod, this.kind, "VM died");
  }

  /** The VM is gone (stopped or died): processes without a journaled exit are lost with it; host leftovers are cleaned. */
  private async vmGone(pod: Pod, exitStatus: number): Promise<void> {
    if (pod.record.state === "stopped") return;
    const r = pod.record as VmRecord;
    pod.stopping = true;
    await pod.detach();
    pod.replayJournalFile();
    this.tasks.abandon(pod, LOST_EXIT_STATUS, "the pod's VM is gone and its journal has no exit for it");
    await this.releaseVm(pod);
    r.state = "stopped";
    r.exitStatus = exitStatus;
    r.exitedAt = new Date().toISOString();
    this.ctx.sandboxes.put(r.id, r);
    pod.markStopped();
    pod.log.info({ exit_status: exitStatus }, "sandbox stopped");
  }

  /** Lets go of a VM's host side: QMP, stdio relays, QEMU and virtiofsd (killed if still there), the tap wiring. */
  private async releaseVm(pod: Pod): Promise<void> {
    const r = pod.record as VmRecord;
    this.controls.get(pod.id)?.close();
    this.controls.delete(pod.id);
    this.tasks.dropPod(pod);
    killQuietly(r.vm?.virtiofsdPid ?? 0);
    killQuietly(r.vm?.qemuPid ?? 0);
    const netns = r.pod?.hostNetwork ? "" : r.netnsPath;
    if (netns && r.vm?.netInterface) await unwirePodNetwork(netns, r.vm.netInterface);
    // Whatever is left in the pod cgroup (nothing once QEMU and virtiofsd are gone) is killed with it.
    if (r.cgroupPath) {
      if (await removePodCgroup(r.cgroupPath)) delete r.cgroupPath;
      else pod.log.warn({ cgroup: r.cgroupPath }, "pod cgroup could not be removed");
    }
  }

  private statusOf(pod: Pod, verbose: boolean): SandboxStatus {
    const r = pod.record as VmRecord;
    const info: Record<string, string> = {};
    if (r.vm) {
      // Always shown: an emulated VM is an operator's first question.
      info["accelerator"] = r.vm.accelerator;
      info["accelerator_reason"] = r.vm.acceleratorReason;
    }
    if (verbose) {
      info["sandboxer"] = this.kind;
      info["hypervisor"] = r.vm?.hypervisor ?? "";
      info["qemu_pid"] = String(r.vm?.qemuPid ?? 0);
      info["virtiofsd_pid"] = String(r.vm?.virtiofsdPid ?? 0);
      info["vcpus"] = String(r.vm?.vcpus ?? 0);
      info["memory_mb"] = String(r.vm?.memoryMb ?? 0);
      info["netns"] = r.netnsPath;
      info["dir"] = pod.dir;
      info["console_log"] = this.tasks.paths(pod).consoleLog;
      info["namespace"] = r.namespace;
    }
    return sandboxStatus(this.ctx, r, info);
  }

  private pod(id: string): Pod {
    return podOf(this.ctx, id);
  }

  private checkFiles(): void {
    const o = this.options;
    for (const [what, path] of [["QEMU", o.path], ["virtiofsd", o.virtiofsdPath]] as const) {
      if (!which(path)) throw new RuntimeError(Code.FailedPrecondition, `${what} binary ${JSON.stringify(path)} not found or not executable`);
    }
    for (const [what, path] of [["guest kernel", o.kernelPath], ["guest initrd", o.initrdPath]] as const) {
      if (!existsSync(path)) throw new RuntimeError(Code.FailedPrecondition, `${what} ${path} not found (build it with packaging/build-guest.sh)`);
    }
  }
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`;
}
