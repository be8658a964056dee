import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ContainerState, PodSandboxState } from "../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { POD_INIT_COMM } from "../src/holder/start-holder.js";
import { shimProcesses, type CriClient } from "./cri.js";
import { decodeOut, logFile, podConfig, runPod, shContainer, waitExited, waitForLog } from "./cri-pod.js";

/** How the scenario's server container serves "hello-localhost" on 127.0.0.1:8080, and how its neighbour fetches it. */
export interface LocalhostServer {
  /** Runs after "echo started" in the server container; ends serving on 127.0.0.1:8080. */
  serve: string;
  /** The neighbour's ExecSync command that prints what the server serves. */
  fetch: string[];
}

/** busybox httpd serving /tmp/index.html. */
export const HTTPD_SERVER: LocalhostServer = {
  serve: "echo hello-localhost > /tmp/index.html; exec httpd -f -p 127.0.0.1:8080 -h /tmp",
  fetch: ["wget", "-qO-", "http://127.0.0.1:8080/index.html"],
};

/** A nc loop: for sandboxes whose busybox build has no httpd applet in reach (gvisor, vmm guests). */
export const NC_SERVER: LocalhostServer = {
  serve: "while true; do echo hello-localhost | nc -l -p 8080; done",
  fetch: ["sh", "-c", "nc 127.0.0.1 8080 </dev/null"],
};

/** The pod the scenario runs, as its hooks see it. */
export interface ScenarioPod {
  podId: string;
  serverId: string;
  clientId: string;
  /** [serverId, clientId]. */
  ids: string[];
}

export interface PodScenarioOptions {
  cri: CriClient;
  handler: string;
  /** The pod's name (and hostname). */
  name: string;
  /** The pod's CRI log directory. */
  logDir: string;
  server: LocalhostServer;
  /** Extra lines the server container runs before it serves (e.g. writing an IPC token). */
  serverSetup?: string;
  /** ExecSync's timeout, seconds; a VM or gvisor sandbox wants more. */
  execTimeout?: bigint;
  /** How many times the neighbour asks before the server must have answered (100 ms apart). */
  fetchAttempts?: number;
  /** What this way into the runtime must show while the pod serves (checked after localhost and ExecSync work). */
  whileRunning?: (pod: ScenarioPod) => Promise<void> | void;
  /** What must hold once the client stopped gracefully, before the pod is stopped. */
  afterClientStopped?: (pod: ScenarioPod) => Promise<void> | void;
}

/**
 * One pod run and removed first, so what the first pod creates for good (cgroup parents,
 * CNI state, the daemon's one inotify instance that libuv makes at the first fs.watch and
 * keeps, which a gVisor exec's start uses) is in a census baseline. `containers` for a
 * sandbox that runs no busybox (wasm; then no exec); `timeoutMs` bounds Stop and Remove
 * where a slow one is the failure.
 */
export async function warmUpPod(
  cri: CriClient,
  handler: string,
  logDir: string,
  opts: { containers?: Parameters<typeof runPod>[3]; timeoutMs?: number } = {},
): Promise<void> {
  const { podId, ids } = await runPod(cri, handler, podConfig("warm", join(logDir, "warm")), opts.containers ?? [shContainer("c", "exec sleep 1000")]);
  if (!opts.containers) await cri.runtime.execSync({ containerId: ids[0]!, cmd: ["true"], timeout: 30n });
  const call = opts.timeoutMs === undefined ? undefined : { timeoutMs: opts.timeoutMs };
  await cri.runtime.stopPodSandbox({ podSandboxId: podId }, call);
  await cri.runtime.removePodSandbox({ podSandboxId: podId }, call);
}

/**
 * The pod scenario every way into the runtime must pass: two containers of one pod talk
 * over localhost, ExecSync returns stdout, stderr and the exit code, the CRI log holds
 * what the containers print, StopContainer gives a TERM handler its grace period, and
 * stopping and removing the pod leaves no pod and no containerd-shim process.
 * Leak censuses are the caller's: it knows what its runtime keeps.
 */
export async function podScenario(o: PodScenarioOptions): Promise<ScenarioPod> {
  const { cri } = o;
  const timeout = o.execTimeout ?? 10n;
  const cfg = podConfig(o.name, o.logDir);
  const server = shContainer("server", ["echo started", o.serverSetup, o.server.serve].filter((s) => s !== undefined).join("; "));
  const client = shContainer("client", "trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done");
  const { podId, ids } = await runPod(cri, o.handler, cfg, [server, client]);
  const [serverId, clientId] = ids as [string, string];
  const pod: ScenarioPod = { podId, serverId, clientId, ids };
  const status = await cri.runtime.podSandboxStatus({ podSandboxId: podId });
  assert.equal(status.status?.state, PodSandboxState.SANDBOX_READY);
  assert.deepEqual(await shimProcesses(), [], "no containerd-shim process");

  await waitForLog(logFile(cfg, server), "stdout F started");
  let got = "";
  for (let i = 0; i < (o.fetchAttempts ?? 50) && !got.includes("hello-localhost"); i++) {
    got = decodeOut((await cri.runtime.execSync({ containerId: clientId, cmd: o.server.fetch, timeout })).stdout);
    if (!got) await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(got, "hello-localhost\n");
  const ex = await cri.runtime.execSync({ containerId: clientId, cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"], timeout });
  assert.deepEqual([decodeOut(ex.stdout), decodeOut(ex.stderr), ex.exitCode], ["out\n", "err\n", 3]);
  await o.whileRunning?.(pod);

  await cri.runtime.stopContainer({ containerId: clientId, timeout: 10n });
  assert.equal((await waitExited(cri, clientId)).exitCode, 0);
  await waitForLog(logFile(cfg, client), "stdout F bye");
  await o.afterClientStopped?.(pod);
  await cri.runtime.stopPodSandbox({ podSandboxId: podId });
  assert.equal((await cri.runtime.containerStatus({ containerId: serverId })).status?.state, ContainerState.CONTAINER_EXITED);
  await cri.runtime.removePodSandbox({ podSandboxId: podId });
  assert.equal((await cri.runtime.listPodSandbox({})).items.length, 0);
  assert.deepEqual(await shimProcesses(), []);
  return pod;
}

const comm = (pid: number): string => readFileSync(`/proc/${pid}/comm`, "utf8").trim();
const ppid = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]!);

/**
 * The pod's holder from PodSandboxStatus's verbose info: podsandbox mode reports the
 * sandbox task's pid (our holder, or its pod-init, the pid 1 of the pod's pid namespace)
 * in CRI's `info` JSON; with a sandbox controller CRI passes on the controller's own info
 * map, which names the holder.
 */
export function holderOf(info: Record<string, string>): number {
  if (info["holder_pid"]) return Number(info["holder_pid"]);
  const pid = (JSON.parse(info["info"] ?? "{}") as { pid?: number }).pid ?? 0;
  assert.ok(pid > 0, JSON.stringify(info));
  return comm(pid) === "pod-init" || comm(pid) === POD_INIT_COMM ? ppid(pid) : pid;
}

/** Asserts `pid` is a pod holder (kuasar-holder), not a pause process or a shim. */
export function assertHolder(pid: number): void {
  assert.equal(comm(pid), "kuasar-holder");
}
