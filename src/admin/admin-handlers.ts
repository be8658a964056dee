import { readFileSync } from "node:fs";
import { VERSION } from "../version.js";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { unescapeMountPath } from "../fs/mountinfo.js";
import type { Sandboxer } from "../sandbox/sandboxer.js";
import type { AdminRequest } from "./admin-protocol.js";
import { cgroupMemoryBytes } from "./cgroup-memory.js";
import { currentLogTarget } from "./log-target.js";
import { processTree } from "./process-tree.js";
import { runCaptured } from "../process/run-captured.js";

/** What the endpoint's Status call reports, when it answers. */
export interface EndpointView {
  pid: number;
  custodyPid: number;
  connections: number;
  pendingCalls: number;
  relayGeneration: number;
  backendConnected: boolean;
}

/** What the admin socket answers from. */
/** The parts of kuasard's options the admin socket reports (kuasard's options are one). */
export interface AdminOptionsView {
  stateDir: string;
  logLevel: string;
  shimListen: string;
  metricsAddress: string;
  tracing: { otlpEndpoint: string };
  sandboxers: readonly string[];
  sandboxer: Readonly<Record<string, { listen: string; kuasarIoListen: string; dir: string }>>;
}

export interface AdminContext {
  sandboxers: ReadonlyMap<string, Sandboxer>;
  options: AdminOptionsView;
  startedAt: Date;
  endpoint(): Promise<EndpointView | undefined>;
  /** The metrics endpoint's port when it serves. */
  metricsPort(): number | undefined;
  /** Where a kind's Task API is served (its socket path). */
  taskSocketOf(kind: string): string;
  /** The programs and files a kind runs as configured, by role. */
  programsOf(kind: string): Record<string, string>;
}

/** How long a sandbox's cgroup read may take in `ps` before it is left out, in ms. */
const MEMORY_READ_TIMEOUT_MS = 2000;

/** Answers one admin request (see admin-protocol.ts). */
export function adminHandler(ctx: AdminContext): (r: AdminRequest) => Promise<unknown> {
  return async (r) => {
    switch (r.op) {
      case "status":
        return status(ctx);
      case "ps":
        return ps(ctx);
      case "inspect":
        return inspect(ctx, r.sandbox);
      case "exec": {
        const { sandboxer } = owner(ctx, r.sandbox);
        return sandboxer.debugExec(r.sandbox, r.container, r.argv, r.timeoutMs);
      }
    }
  };
}

async function status(ctx: AdminContext) {
  const o = ctx.options;
  return {
    pid: process.pid,
    version: VERSION,
    startedAt: ctx.startedAt.toISOString(),
    stateDir: o.stateDir,
    logLevel: o.logLevel,
    log: currentLogTarget(),
    shimListen: o.shimListen,
    metricsAddress: o.metricsAddress,
    metricsPort: ctx.metricsPort() ?? null,
    tracing: o.tracing.otlpEndpoint,
    sandboxers: o.sandboxers.map((kind) => ({
      kind,
      listen: o.sandboxer[kind].listen,
      kuasarIoListen: o.sandboxer[kind].kuasarIoListen,
      dir: o.sandboxer[kind].dir,
      taskSocket: ctx.taskSocketOf(kind),
      facts: ctx.sandboxers.get(kind)?.hostFacts?.() ?? {},
      binaries: ctx.programsOf(kind),
    })),
    endpoint: (await ctx.endpoint().catch(() => undefined)) ?? null,
  };
}

/** Every sandbox and container of every kind, with age and memory. */
async function ps(ctx: AdminContext) {
  const now = Date.now();
  const age = (iso: string | undefined) => (iso ? Math.max(0, Math.round((now - Date.parse(iso)) / 1000)) : null);
  const sandboxes = [];
  const containers = [];
  for (const [kind, s] of ctx.sandboxers) {
    const inv = s.inventory();
    for (const sb of inv.sandboxes) {
      const memoryBytes = sb.state === "ready" ? await sandboxMemory(s, sb.id) : undefined;
      const count = inv.containers.filter((c) => c.sandboxId === sb.id).length;
      sandboxes.push({ kind, id: sb.id, namespace: sb.namespace, state: sb.state, pid: sb.pid, ageSecs: age(sb.createdAt), memoryBytes: memoryBytes ?? null, containers: count });
    }
    for (const c of inv.containers) {
      const memoryBytes = c.state === "running" ? cgroupMemoryBytes(c.cgroup) : undefined;
      containers.push({ kind, id: c.id, sandboxId: c.sandboxId, state: c.state, pid: c.pid, ageSecs: age(c.startedAt), memoryBytes: memoryBytes ?? null, exitStatus: c.exitStatus, execs: c.execs });
    }
  }
  return { sandboxes, containers };
}

async function sandboxMemory(s: Sandboxer, id: string): Promise<number | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), MEMORY_READ_TIMEOUT_MS)));
  try {
    return await Promise.race([s.metrics(id).then((st) => Number(st.memoryUsageBytes), () => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** One sandbox: its status and record, its processes, its mounts and its network. */
async function inspect(ctx: AdminContext, id: string) {
  const { kind, sandboxer } = owner(ctx, id);
  const inv = sandboxer.inventory();
  const record = inv.sandboxes.find((s) => s.id === id)!;
  const containers = inv.containers.filter((c) => c.sandboxId === id);
  const st = await sandboxer.status(id, true);
  // Every pid the sandbox names (holder, pod init, VM, runsc sandbox) roots the process tree.
  const roots = new Set<number>([record.pid, ...containers.map((c) => (c.state === "running" ? c.pid : 0))]);
  for (const [k, v] of Object.entries(st.info)) if (k.endsWith("_pid") && Number(v) > 0) roots.add(Number(v));
  const ids = [id, ...containers.map((c) => c.id)];
  return {
    kind,
    sandbox: record,
    status: { state: st.state, pid: st.pid, createdAt: st.createdAt.toISOString(), exitedAt: st.exitedAt?.toISOString() ?? null, exitStatus: st.exitStatus, taskAddress: st.taskAddress, labels: st.labels, info: st.info },
    containers,
    processes: processTree([...roots]),
    mounts: mountsOf(record.dir, ids),
    network: await networkOf(record.netns, record.pid),
  };
}

/** The sandboxer that holds `id` (NotFound otherwise). */
function owner(ctx: AdminContext, id: string): { kind: string; sandboxer: Sandboxer } {
  for (const [kind, s] of ctx.sandboxers) if (s.has(id)) return { kind, sandboxer: s };
  throw new RuntimeError(Code.NotFound, `sandbox ${id} not found`);
}

/** Mounts in kuasard's mount namespace below the pod dir or naming the pod or one of its containers. */
function mountsOf(dir: string, ids: string[]): { mountPoint: string; fsType: string; source: string }[] {
  const out = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    if (f.length < 10) continue;
    const mountPoint = unescapeMountPath(f[4]!);
    const sep = f.indexOf("-");
    if (!(dir && mountPoint.startsWith(`${dir}/`)) && !ids.some((i) => mountPoint.split("/").includes(i))) continue;
    out.push({ mountPoint, fsType: f[sep + 1] ?? "", source: unescapeMountPath(f[sep + 2] ?? "") });
  }
  return out;
}

/** The pod's network namespace and its interfaces with addresses (`ip -j addr` inside it). */
async function networkOf(netns: string, pid: number) {
  if (!netns) return { netns: "host", interfaces: [] };
  const target = pid > 0 ? [`--net=/proc/${pid}/ns/net`] : [`--net=${netns}`];
  try {
    const r = await runCaptured(["nsenter", ...target, "--", "ip", "-j", "addr", "show"], 5000);
    if (r.status !== 0) return { netns, interfaces: [], error: r.stderr.trim() };
    const parsed = JSON.parse(r.stdout) as { ifname: string; address?: string; operstate?: string; addr_info?: { local: string; prefixlen: number }[] }[];
    return { netns, interfaces: parsed.map((i) => ({ name: i.ifname, mac: i.address ?? "", state: i.operstate ?? "", addresses: (i.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`) })) };
  } catch (err) {
    return { netns, interfaces: [], error: (err as Error).message };
  }
}

