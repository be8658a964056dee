import assert from "node:assert/strict";
import { readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { ContainerState, PodSandboxState } from "../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { isAlive, waitGone } from "../src/pod/pod.js";
import type { CriClient } from "./cri.js";
import { decodeOut, podConfig, runPod, shContainer, waitExited } from "./cri-pod.js";
import { takeCensus, type Census, type CensusScope } from "./leak-census.js";
import { settledLeaksOf } from "./state-dir.js";

/**
 * The holder-death scenario shared by the containerd 2.x and 1.7 tests: a pod
 * whose holder is SIGKILLed must end (containers Exited, pod NotReady), stop and
 * go quickly, and leave nothing behind.
 */

/** A CRI call deadline far below containerd's and kubelet's own (the bug was a 60 s hang). */
export const QUICK_MS = 15_000;

const LOOP = "trap 'exit 0' TERM; while true; do sleep 0.1; done";

/** The holder pid a sandboxer state dir records for a pod (`holder.pid` holds "holder-pid pod-init-pid"). */
export function holderPidOf(sandboxerDir: string, podId: string): number {
  return Number(readFileSync(join(sandboxerDir, "pods", podId, "holder.pid"), "utf8").trim().split(" ")[0]);
}

/** The host pid of a container's init, from CRI's verbose status. */
export async function containerPid(cri: CriClient, containerId: string): Promise<number> {
  const info = (await cri.runtime.containerStatus({ containerId, verbose: true })).info;
  const pid = (JSON.parse(info["info"] ?? "{}") as { pid?: number }).pid ?? 0;
  assert.ok(pid > 0, `pid of container ${containerId} from CRI verbose status`);
  return pid;
}

/** A running pod of two looping containers: `own` in its own pid namespace (kubelet's default), `shared` in the pod's. */
export interface TwoContainerPod {
  podId: string;
  own: string;
  shared: string;
  pids: number[];
  holderPid: number;
}

/**
 * `distinctPidNs`: the containers' processes are on this host (runc), so their pid
 * namespaces are checked; a gVisor container's pid here is its waiter's.
 */
export async function startTwoContainerPod(cri: CriClient, handler: string, sandboxerDir: string, name: string, logDir: string, distinctPidNs = true): Promise<TwoContainerPod> {
  const cfg = podConfig(name, join(logDir, name));
  const { podId, ids } = await runPod(cri, handler, cfg, [shContainer("own", LOOP), shContainer("shared", LOOP, { sharedPid: true })]);
  const [own, shared] = ids as [string, string];
  const pids = [await containerPid(cri, own), await containerPid(cri, shared)];
  const holderPid = holderPidOf(sandboxerDir, podId);
  assert.ok(isAlive(holderPid), "the pod's holder runs");
  const pidNs = (pid: number) => readlinkSync(`/proc/${pid}/ns/pid`);
  if (distinctPidNs) assert.notEqual(pidNs(pids[0]!), pidNs(pids[1]!), "one container has a pid namespace of its own, the other the pod's");
  return { podId, own, shared, pids, holderPid };
}

/**
 * After the holder died: both containers Exited with 137 (killed with their pod),
 * their processes gone, the pod NotReady; Stop and Remove finish within
 * {@link QUICK_MS}; a new pod runs and goes; nothing counted in `before` grew.
 */
export async function assertPodEndedAndCleaned(cri: CriClient, handler: string, pod: TwoContainerPod, scope: CensusScope, before: Census, logDir: string): Promise<void> {
  for (const id of [pod.own, pod.shared]) {
    const s = await waitExited(cri, id, QUICK_MS);
    assert.equal(s.exitCode, 137, `container ${id} reported killed (SIGKILL) with its holder`);
  }
  for (const pid of pod.pids) assert.ok(await waitGone(pid, 5000), `container process ${pid} is gone`);
  let state: PodSandboxState | undefined;
  for (let i = 0; i < 150 && state !== PodSandboxState.SANDBOX_NOTREADY; i++) {
    state = (await cri.runtime.podSandboxStatus({ podSandboxId: pod.podId })).status?.state;
    if (state !== PodSandboxState.SANDBOX_NOTREADY) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(state, PodSandboxState.SANDBOX_NOTREADY, "the pod is NotReady once its holder died");

  await cri.runtime.stopPodSandbox({ podSandboxId: pod.podId }, { timeoutMs: QUICK_MS });
  await cri.runtime.removePodSandbox({ podSandboxId: pod.podId }, { timeoutMs: QUICK_MS });
  assert.equal((await cri.runtime.listPodSandbox({})).items.length, 0);

  // The node still works: a new pod runs a container and goes.
  const next = await runPod(cri, handler, podConfig("after", join(logDir, "after")), [shContainer("c", LOOP)]);
  assert.equal((await cri.runtime.containerStatus({ containerId: next.ids[0]! })).status?.state, ContainerState.CONTAINER_RUNNING);
  const ex = await cri.runtime.execSync({ containerId: next.ids[0]!, cmd: ["echo", "alive"], timeout: 10n });
  assert.equal(decodeOut(ex.stdout), "alive\n");
  await cri.runtime.stopPodSandbox({ podSandboxId: next.podId }, { timeoutMs: QUICK_MS });
  await cri.runtime.removePodSandbox({ podSandboxId: next.podId }, { timeoutMs: QUICK_MS });

  const diff = await settledLeaksOf(scope, before, [pod.podId, pod.own, pod.shared, next.podId, ...next.ids]);
  assert.deepEqual(diff, {}, "nothing left: processes, mounts, fds, dir entries, netns, cgroups");
}

