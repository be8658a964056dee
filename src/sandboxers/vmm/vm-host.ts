import { existsSync, rmSync } from "node:fs";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { which } from "../../fs/which.js";
import type { PodAgent } from "../../holder/pod-agent.js";
import { isAlive, killQuietly, waitGone, type Pod, type PodJournal } from "../../pod/pod.js";
import { requireHolder } from "../../pod/pod-tasks.js";
import { goArch, type Platform, type PodHost } from "../../pod/pod-host.js";
import type { PodRuntime } from "../../pod/pod-runtime.js";
import type { SandboxRecord } from "../../pod/records.js";
import { sumStats } from "../../pod/sandbox-records.js";
import { podSysctlsToApply } from "../../sandbox/pod-sysctls-applied.js";
import type { CgroupStats } from "../../task/task-backend.js";
import type { AcceleratorChoice } from "./accelerator-probe.js";
import { vmPaths } from "./guest-paths.js";
import { checkInGuest } from "./guest-runner.js";
import type { GuestOciRuntime } from "./guest-oci-runtime.js";
import { setUpGuest, type GuestSetup } from "./guest-setup.js";
import type { Accelerator, Hypervisor, VmControl } from "./driver/hypervisor.js";
import type { HypervisorOptions } from "./hypervisor-options.js";
import { unwirePodNetwork, wirePodNetwork, type PodNetwork } from "./pod-network.js";
import { bootVm, connectAgent, type BootRequest } from "./vm-boot.js";
import type { VmTemplates } from "./vm-templates.js";
import { vmSize } from "./vm-sizing.js";
import { vmHostResources } from "./vm-host-resources.js";
import { makeRecordedPodCgroup, podCgroupPath, removePodCgroup } from "../../cgroup/pod-cgroup.js";
import type { PodResources, SandboxCreateRequest } from "../../sandbox/sandboxer.js";
import type { VmmRuntime } from "./vmm-runtime.js";

/**
 * How far a guest's clock may trail the host's when exits are matched to processes: the guest
 * reads the RTC to the second at boot and runs no NTP; guest pids only recur after pid_max
 * spawns, far beyond this window.
 */
const GUEST_CLOCK_SKEW_MS = 60_000;
/** Deadline of guest setup commands (network, hostname), in ms. */
const SETUP_TIMEOUT_MS = 30_000;
/** How long a restored VM's hot-plugged NIC may take to appear in its guest, in ms. */
const NIC_WAIT_MS = 10_000;
/** Deadline of the agent's shutdown call at Stop, in ms (then the VM gets `stopTimeoutMs` to power off). */
const AGENT_SHUTDOWN_MS = 5000;
/** How long QEMU gets after a QMP quit, and again after SIGKILL, in ms. */
const QUIT_MS = 2000;

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
  /** Set once the VM's host side was released: its pids may belong to others since. */
  released?: boolean;
  /** The VM template it was restored from (absent: it booted). */
  template?: string;
  /** The OCI runtime in its guest, found at its setup (absent: runc, the only one before). */
  ociRuntime?: GuestOciRuntime;
}

type VmRecord = SandboxRecord & { vm?: VmState };

/**
 * The host side of a vmm pod: a micro-VM booted by a {@link Hypervisor} driver
 * (with virtiofsd sharing the pod dir, and the pod's CNI interface wired to its
 * tap), supervised through its guest agent (our holder, pid 1 in the guest) and
 * the driver's control channel. Adding a hypervisor is a driver, not a host:
 * docs/guides/adding-a-hypervisor-driver.md.
 */
export class VmHost implements PodHost {
  readonly supervisorName = "VM";
  readonly podsDirMode = 0o711;
  /** Control channels of running VMs, by sandbox id. */
  private readonly controls = new Map<string, VmControl>();
  /** Networks wired by a Start in progress, until its guest setup used them. */
  private readonly wiring = new Map<string, PodNetwork>();
  /** The accelerator decision once the probe is done (see accelerator-probe.ts). */
  private acceleratorChosen: AcceleratorChoice | undefined;

  constructor(
    private readonly ctx: PodRuntime,
    private readonly tasks: VmmRuntime,
    private readonly hypervisor: Hypervisor,
    private readonly options: HypervisorOptions,
    private readonly accelerator: Promise<AcceleratorChoice>,
    /** VM templates pods are restored from (`template = true`), or none: every pod boots. */
    private readonly templates?: VmTemplates,
  ) {
    accelerator.then((c) => (this.acceleratorChosen = c), () => {});
  }

  hostFacts(): Record<string, string> {
    const c = this.acceleratorChosen;
    return c ? { accelerator: c.accelerator, accelerator_reason: c.reason } : { accelerator: "probing", accelerator_reason: "the KVM probe guest has not finished booting" };
  }

  checkCreate(req: SandboxCreateRequest): void {
    podCgroupPath(req.pod?.cgroupParent ?? "", req.id); // a bad cgroup_parent is refused here, before anything is made
    const o = this.options;
    for (const [what, path] of [["QEMU", o.path], ["virtiofsd", o.virtiofsdPath]] as const) {
      if (!which(path)) throw new RuntimeError(Code.FailedPrecondition, `${what} binary ${JSON.stringify(path)} not found or not executable`);
    }
    for (const [what, path] of [["guest kernel", o.kernelPath], ["guest initrd", o.initrdPath]] as const) {
      if (!existsSync(path)) throw new RuntimeError(Code.FailedPrecondition, `${what} ${path} not found (build it with packaging/build-guest.sh)`);
    }
  }

  journal(record: SandboxRecord, podDir: string): PodJournal {
    return { path: vmPaths(this.ctx.options.dir, podDir, record.id).journal, clockSkewMs: GUEST_CLOCK_SKEW_MS };
  }

  /** The pod cgroup (QEMU and virtiofsd start in it), the network wiring, then the VM (virtiofsd, the hypervisor) until its agent answers. */
  async launch(pod: Pod, save: () => void, signal: AbortSignal | undefined): Promise<PodAgent> {
    const r = pod.record as VmRecord;
    const choice = await this.accelerator;
    const size = vmSize(this.options, r.pod?.resources);
    const netns = netnsOf(r);
    r.vm = { hypervisor: this.hypervisor.name, accelerator: choice.accelerator, acceleratorReason: choice.reason, ...size, qemuPid: 0, virtiofsdPid: 0, netInterface: "" };
    save();
    const cgroups = this.makePodCgroup(r, size.memoryMb, save);
    signal?.throwIfAborted();
    // The host side of the pod's network (a few processes in its netns) runs while a restore's
    // QEMU starts: the restore needs the tap only when it plugs the NIC. A boot needs it first.
    let wiring: Promise<PodNetwork | undefined> | undefined;
    const wire = () =>
      (wiring ??= (netns ? wirePodNetwork(netns) : Promise.resolve(undefined)).then((net) => {
        r.vm!.netInterface = net?.interface ?? "";
        save();
        if (net) this.wiring.set(pod.id, net);
        return net;
      }));
    const req: BootRequest = { id: pod.id, paths: this.tasks.paths(pod), accelerator: choice.accelerator, ...size, nic: undefined, netnsPath: netns || undefined, cgroups, timeoutMs: this.options.bootTimeoutMs };
    const onPids = (qemuPid: number, virtiofsdPid: number) => {
      r.vm = { ...r.vm!, qemuPid, virtiofsdPid };
      r.holderPid = qemuPid;
      r.podPid = qemuPid;
      save();
    };
    const nicOf = (net: PodNetwork | undefined) => (net ? { tap: net.tap, mac: net.mac } : undefined);
    const restored = await this.restore(pod, { ...req, nicLater: () => wire().then(nicOf) }, onPids, () => wiring);
    if (restored) {
      await wire();
      signal?.throwIfAborted(); // the restore is quick; its rollback is Start's
      return restored;
    }
    const vm = await bootVm(this.hypervisor, this.options, { ...req, nic: nicOf(await wire()) }, pod.log, onPids, signal);
    pod.log.info({ ...r.vm }, choice.accelerator === "tcg" ? "VM booted (software emulation: TCG)" : "VM booted");
    return vm.agent;
  }

  /**
   * The pod's VM restored from the template of its shape, when templates are on and one is
   * there; undefined: boot it. No template yet: one is built beside this boot, for the next
   * pods. A template that fails to restore is removed with a warning and the pod boots.
   */
  private async restore(pod: Pod, req: BootRequest, onPids: (qemuPid: number, virtiofsdPid: number) => void, wiring: () => Promise<unknown> | undefined): Promise<PodAgent | undefined> {
    const templates = this.templates;
    if (!templates) return undefined;
    const size = { vcpus: req.vcpus, memoryMb: req.memoryMb };
    const t = templates.find(req.accelerator, size);
    if (!t) {
      templates.obtain(req.accelerator, size).catch((err: unknown) => pod.log.warn({ err }, "building the VM template failed; pods boot"));
      return undefined;
    }
    const r = pod.record as VmRecord;
    try {
      const vm = await templates.restore(t, req, pod.log, onPids);
      r.vm = { ...r.vm!, template: t.key };
      pod.log.info({ ...r.vm }, "VM restored from its template");
      return vm.agent;
    } catch (err) {
      // The pod's own network wiring failing is not the template's fault: the pod fails, the template stays.
      const wiringFailed = await wiring()?.then(
        () => undefined,
        (e: unknown) => e,
      );
      if (wiringFailed !== undefined) throw wiringFailed;
      pod.log.warn({ err, template: t.key }, "VM template restore failed: the template is removed and the pod boots");
      templates.store.discardBroken(t, `restoring it failed: ${(err as Error).message}`);
      r.vm = { ...r.vm!, qemuPid: 0, virtiofsdPid: 0 };
      return undefined;
    }
  }

  /**
   * Makes the pod cgroup under CRI's cgroup_parent (recorded first, so whatever
   * undoes this Start removes it) with the pod's limits for a VM of
   * `vmMemoryMb`; the dirs QEMU and virtiofsd start in.
   */
  private makePodCgroup(r: VmRecord, vmMemoryMb: number, save: () => void): string[] {
    return makeRecordedPodCgroup(r, save, (res) => vmHostResources(res, vmMemoryMb));
  }

  /**
   * A VM pod's cgroup covers its guest's RAM and QEMU's overhead. The guest's RAM is
   * fixed at boot (no memory hotplug): a memory limit that would size the VM
   * otherwise is refused; CPU limits can change.
   */
  podResources(pod: Pod, res: PodResources): PodResources {
    const memoryMb = (pod.record as VmRecord).vm?.memoryMb ?? 0;
    const wanted = vmSize(this.options, res).memoryMb;
    if (res.memoryLimitBytes > 0 && wanted !== memoryMb) {
      throw new RuntimeError(Code.FailedPrecondition, `sandbox ${pod.id}: its VM has ${memoryMb} MiB of RAM, fixed at boot; a pod memory limit of ${res.memoryLimitBytes} bytes needs a ${wanted} MiB VM (a new pod). CPU limits can change.`);
    }
    return vmHostResources(res, memoryMb);
  }

  /** Hostname, network and sysctls in the guest (by the agent's verbs, or a script for an older agent), then the control channel. */
  async setUp(pod: Pod, signal: AbortSignal | undefined): Promise<void> {
    const r = pod.record;
    const net = this.wiring.get(pod.id);
    this.wiring.delete(pod.id);
    const paths = this.tasks.paths(pod);
    const vm = (r as VmRecord).vm;
    const setup: GuestSetup = { hostname: r.pod?.hostname || pod.id.slice(0, 63), network: net, nicHotplugged: !!vm?.template, sysctls: podSysctlsToApply(r.pod) };
    const started = Date.now();
    let scripted = false;
    const runScript = (script: string) => {
      scripted = true;
      return checkInGuest(pod, paths, ["/bin/sh", "-c", script], { timeoutMs: SETUP_TIMEOUT_MS, signal });
    };
    let nicWaitMs: number | undefined;
    const onNicUp = (ms: number) => (nicWaitMs = ms);
    const runtime = await setUpGuest(requireHolder(pod), setup, runScript, { deadline: started + SETUP_TIMEOUT_MS, nicWaitMs: NIC_WAIT_MS, signal, onNicUp });
    pod.log.info({ setup_ms: Date.now() - started, nic_wait_ms: nicWaitMs, by: scripted ? "script" : "agent verbs", oci_runtime: runtime }, "guest set up");
    if (vm) vm.ociRuntime = runtime; // saved with the pod's move to ready
    signal?.throwIfAborted();
    this.controls.set(pod.id, await this.hypervisor.control({ controlSocket: paths.qmpSocket }));
  }

  /** Routes the agent's output to the containers' stdio relays. */
  attached(pod: Pod): void {
    this.tasks.attachStreams(pod);
  }

  /** The agent of a running VM, and its control channel if not open (after a restart). */
  async connect(pod: Pod, timeoutMs: number): Promise<PodAgent> {
    const qemuPid = qemuPidOf(pod);
    const paths = this.tasks.paths(pod);
    const agent = await connectAgent(paths.agentSocket, qemuPid, Date.now() + Math.max(timeoutMs, 5000));
    if (!this.controls.has(pod.id)) {
      try {
        this.controls.set(pod.id, await this.hypervisor.control({ controlSocket: paths.qmpSocket }));
      } catch (err) {
        await agent.close().catch(() => {});
        throw err;
      }
    }
    return agent;
  }

  supervisorAlive(pod: Pod): boolean {
    return isAlive(qemuPidOf(pod));
  }

  async kill(pod: Pod): Promise<void> {
    const qemuPid = qemuPidOf(pod);
    killQuietly(qemuPid);
    await waitGone(qemuPid, QUIT_MS);
  }

  /** The agent kills what is left, journals it, syncs and powers the guest off; a VM that does not is quit, then killed. */
  async shutdown(pod: Pod): Promise<void> {
    const qemuPid = qemuPidOf(pod);
    await pod.client?.shutdown({ timeoutMs: AGENT_SHUTDOWN_MS }).catch((err: unknown) => pod.log.warn({ err }, "agent shutdown failed"));
    if (await waitGone(qemuPid, this.options.stopTimeoutMs)) return;
    pod.log.warn({ qemu_pid: qemuPid }, "guest did not power off in time; quitting the VM");
    await this.controls.get(pod.id)?.quit().catch(() => {});
    if (!(await waitGone(qemuPid, QUIT_MS))) killQuietly(qemuPid);
    await waitGone(qemuPid, QUIT_MS);
  }

  /** Lets go of the VM's host side: its control channel, stdio relays, QEMU and virtiofsd (killed if still there), the tap wiring, the pod cgroup. */
  async release(pod: Pod): Promise<void> {
    const r = pod.record as VmRecord;
    this.controls.get(pod.id)?.close();
    this.controls.delete(pod.id);
    this.wiring.delete(pod.id);
    this.tasks.dropPod(pod);
    if (r.vm && !r.vm.released) {
      killQuietly(r.vm.virtiofsdPid);
      killQuietly(r.vm.qemuPid);
      const netns = netnsOf(r);
      if (netns && r.vm.netInterface) await unwirePodNetwork(netns, r.vm.netInterface);
      // A restored VM's own copy of its template's RAM (tmpfs): QEMU is gone, so is its use.
      if (await waitGone(r.vm.qemuPid, QUIT_MS)) rmSync(this.tasks.paths(pod).memory, { force: true });
      r.vm.released = true;
    }
    // Whatever is left in the pod cgroup (nothing once QEMU and virtiofsd are gone) is killed with it; a later release retries.
    if (r.cgroupPath) {
      if (await removePodCgroup(r.cgroupPath)) delete r.cgroupPath;
      else pod.log.warn({ cgroup: r.cgroupPath }, "pod cgroup could not be removed");
    }
  }

  /** The sockets, which live outside the pod dir (they must fit sun_path). */
  async discard(pod: Pod): Promise<void> {
    const paths = this.tasks.paths(pod);
    for (const s of [paths.agentSocket, paths.qmpSocket, paths.fsSocket]) rmSync(s, { force: true });
  }

  statusInfo(pod: Pod, verbose: boolean): Record<string, string> {
    const vm = (pod.record as VmRecord).vm;
    const info: Record<string, string> = {};
    if (vm) {
      // Always shown: an emulated VM is an operator's first question.
      info["accelerator"] = vm.accelerator;
      info["accelerator_reason"] = vm.acceleratorReason;
    }
    if (verbose) {
      info["hypervisor"] = vm?.hypervisor ?? "";
      info["qemu_pid"] = String(vm?.qemuPid ?? 0);
      info["virtiofsd_pid"] = String(vm?.virtiofsdPid ?? 0);
      info["vcpus"] = String(vm?.vcpus ?? 0);
      info["memory_mb"] = String(vm?.memoryMb ?? 0);
      info["template"] = vm?.template ?? "";
      info["oci_runtime"] = vm?.ociRuntime ?? "runc";
      info["console_log"] = this.tasks.paths(pod).consoleLog;
    }
    return info;
  }

  /** The containers' stats summed; the VM's own memory bounds everything inside it. */
  async metrics(pod: Pod, containers: CgroupStats[]): Promise<CgroupStats> {
    const sum = sumStats(containers, true);
    const vmBytes = BigInt((pod.record as VmRecord).vm?.memoryMb ?? 0) << 20n;
    if (sum.memoryLimitBytes === 0n || sum.memoryLimitBytes > vmBytes) sum.memoryLimitBytes = vmBytes;
    return sum;
  }

  /** The guest kernel and initrd are built for the host's architecture, which the drivers emulate or accelerate. */
  platform(): Platform {
    return { os: "linux", architecture: goArch(process.arch), variant: "" };
  }

  /** Templates of a kernel, initrd (agent), QEMU or command line no longer configured go. */
  async recovered(): Promise<void> {
    this.templates?.prune();
  }

  async close(): Promise<void> {
    for (const c of this.controls.values()) c.close();
    this.controls.clear();
    // A daemon exit is not a VM death: outputs stay held for the next daemon.
    for (const pod of this.ctx.pods.values()) this.tasks.dropPod(pod, false);
  }

  releaseOrphanOutputs(): Promise<void> {
    return this.tasks.releaseOrphanOutputs();
  }
}

function qemuPidOf(pod: Pod): number {
  const vm = (pod.record as VmRecord).vm;
  return vm && !vm.released ? vm.qemuPid : 0;
}

/** The pod's network namespace, "" for a host-network pod (no wiring). */
function netnsOf(r: SandboxRecord): string {
  return r.pod?.hostNetwork ? "" : r.netnsPath;
}
