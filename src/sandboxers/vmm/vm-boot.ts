import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { readTextOr } from "../../fs/read-text.js";
import { HolderClient } from "../../holder/holder-client.js";
import type { PodAgent } from "../../holder/pod-agent.js";
import type { Logger } from "../../log/logger.js";
import { isAlive, killQuietly } from "../../pod/pod.js";
import type { Accelerator, Hypervisor } from "./driver/hypervisor.js";
import type { HypervisorOptions } from "./hypervisor-options.js";
import type { VmPaths } from "./guest-paths.js";
import { startVirtiofsd } from "./virtiofsd.js";
import { abortedError } from "../../errors/aborted.js";
import { type Clock, realClock } from "../../time/clock.js";

/** What one boot asks for. */
export interface BootRequest {
  id: string;
  paths: VmPaths;
  accelerator: Accelerator;
  vcpus: number;
  memoryMb: number;
  nic: { tap: string; mac: string } | undefined;
  /**
   * A restore's NIC, when `nic` is not set: called once QEMU is spawned, so that the host's
   * network wiring (processes in the pod's netns) runs while QEMU starts; awaited when the NIC
   * is plugged. A boot puts the NIC on QEMU's command line: `nic`.
   */
  nicLater?: () => Promise<{ tap: string; mac: string } | undefined>;
  netnsPath: string | undefined;
  /** The pod cgroup's dirs QEMU and virtiofsd start in (none without a cgroup_parent). */
  cgroups: readonly string[];
  /** Overall deadline to the agent's first answer, in ms. */
  timeoutMs: number;
}

/** A booted VM: its processes and the connected agent. */
export interface BootedVm {
  qemuPid: number;
  virtiofsdPid: number;
  agent: HolderClient;
}

/**
 * Boots a pod VM: virtiofsd for the shared directory, QEMU, then waits for the
 * guest agent to answer a ping. On failure, or when `signal` (the caller's deadline
 * or cancel) fires first, kills what it started and says why (with the tail of the
 * console log, where the guest's own complaints are).
 */
export async function bootVm(h: Hypervisor, o: HypervisorOptions, b: BootRequest, log: Logger, onPids: (qemuPid: number, virtiofsdPid: number) => void, signal?: AbortSignal): Promise<BootedVm> {
  const p = b.paths;
  mkdirSync(join(p.shared, "agent"), { recursive: true, mode: 0o700 });
  mkdirSync(join(p.agentSocket, ".."), { recursive: true, mode: 0o700 });
  for (const s of [p.agentSocket, p.qmpSocket, p.fsSocket]) rmSync(s, { force: true });
  let virtiofsdPid = 0;
  let qemuPid = 0;
  const started = Date.now();
  try {
    virtiofsdPid = await startVirtiofsd({ binary: o.virtiofsdPath, source: p.shared, socket: p.fsSocket, log: p.virtiofsdLog, debug: o.debug, cgroups: b.cgroups }, 10_000, signal);
    signal?.throwIfAborted();
    qemuPid = await h.launch({
      id: b.id,
      accelerator: b.accelerator,
      vcpus: b.vcpus,
      memoryMb: b.memoryMb,
      kernelPath: o.kernelPath,
      initrdPath: o.initrdPath,
      kernelCmdline: kernelCmdline(o),
      agentSocket: p.agentSocket,
      controlSocket: p.qmpSocket,
      shareSocket: p.fsSocket,
      consoleLog: p.consoleLog,
      vmmLog: p.qemuLog,
      nic: b.nic,
      netnsPath: b.netnsPath,
      cgroups: b.cgroups,
    });
    onPids(qemuPid, virtiofsdPid);
    const agent = await connectAgent(p.agentSocket, qemuPid, started + b.timeoutMs, signal);
    log.info({ qemu_pid: qemuPid, accelerator: b.accelerator, boot_ms: Date.now() - started }, "guest agent answered");
    return { qemuPid, virtiofsdPid, agent };
  } catch (err) {
    for (const pid of [qemuPid, virtiofsdPid]) killQuietly(pid);
    const e = RuntimeError.from(err);
    throw new RuntimeError(e.code, `${e.message}${logTail("guest console", p.consoleLog)}${logTail("QEMU", p.qemuLog)}`, { cause: err });
  }
}

/** The guest kernel command line pods boot with (a template adds `kuasar.share=later`). */
export function kernelCmdline(o: HypervisorOptions): string {
  const base = ["console=ttyS0", "panic=-1", "reboot=t", o.debug ? "debug" : "quiet", "kuasar.debug=" + (o.debug ? "1" : "0")];
  return [...base, o.kernelParams].filter(Boolean).join(" ");
}

/** Pause between tries to reach the guest agent, doubling from the first to the last. */
const AGENT_RETRY_MIN_MS = 10;
const AGENT_RETRY_MAX_MS = 200;

/**
 * Connects to the agent's virtio-serial socket and pings until it answers. QEMU
 * accepts the connection before the guest opens its port, so the ping is what
 * proves the agent is up; nothing on the host announces the guest opening it,
 * hence the bounded backoff between tries. `signal` (the caller's deadline or
 * cancel) ends the wait with its reason.
 */
export async function connectAgent(socket: string, qemuPid: number, deadline: number, signal?: AbortSignal, clock: Clock = realClock): Promise<HolderClient> {
  let last: unknown;
  for (let pause = AGENT_RETRY_MIN_MS; clock.now() < deadline; pause = Math.min(pause * 2, AGENT_RETRY_MAX_MS)) {
    signal?.throwIfAborted();
    if (qemuPid > 0 && !isAlive(qemuPid)) throw new RuntimeError(Code.Internal, "the VM exited during boot");
    let client: HolderClient | undefined;
    try {
      // Short to connect (the loop retries), the client's usual deadline for its calls: a guest under TCG answers slowly.
      client = await HolderClient.connectSocket(socket, { connectTimeoutMs: 2000, ...(signal ? { signal } : {}) });
      holdOutput(client);
      await client.ping({ timeoutMs: Math.max(500, deadline - clock.now()), signal });
      return client;
    } catch (err) {
      last = err;
      await client?.close().catch(() => {});
      if (signal?.aborted) throw abortedError(signal);
      await clock.sleep(Math.min(pause, Math.max(0, deadline - clock.now())), signal);
    }
  }
  throw new RuntimeError(Code.DeadlineExceeded, `the guest agent did not answer within the boot deadline (${RuntimeError.from(last ?? "no attempt").message})`);
}

function logTail(what: string, path: string): string {
  const text = readTextOr(path).trim().split("\n").slice(-6).join("\n");
  return text ? `; ${what}:\n${text}` : "";
}

type HeldEvent = { fd: number; id: string; data: Buffer | undefined };
const held = new WeakMap<PodAgent, { events: HeldEvent[]; off: () => void }>();

/**
 * Keeps the output the agent sends as soon as a connection opens (what it held
 * back while no host was connected) until the relays subscribe: output a
 * connection receives but nobody reads is lost with it.
 */
function holdOutput(client: HolderClient): void {
  const events: HeldEvent[] = [];
  const offOut = client.onOutput((id, fd, data) => events.push({ id, fd, data }));
  const offEof = client.onEof((id, fd) => events.push({ id, fd, data: undefined }));
  held.set(client, { events, off: () => (offOut(), offEof()) });
}

/** Stops holding and hands over what arrived so far (`data` undefined: end of that output). */
export function takeHeldOutput(client: PodAgent): HeldEvent[] {
  const h = held.get(client);
  if (!h) return [];
  held.delete(client);
  h.off();
  return h.events;
}
