import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ContainerState, PodSandboxState, type ContainerConfigSchema } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { isAlive } from "../../src/pod/pod.js";
import { exitStatusOfWaitStatus, urpcCall } from "../../src/sandboxers/gvisor/urpc-client.js";
import type { CriClient } from "../../testing/cri.js";
import { decodeOut, logFile, podConfig, runPod, shContainer, waitExited, waitForLog } from "../../testing/cri-pod.js";
import { assertIsolated } from "../../testing/isolation.js";
import { afterRedial, containerd2WithKuasar, GVISOR_HANDLER } from "../../testing/kuasar-containerd2.js";
import { containerd17WithKuasar, GVISOR_HANDLER_17 } from "../../testing/kuasar-containerd17.js";
import { listProcesses } from "../../testing/process-table.js";

assertIsolated();

type ContainerConfig = MessageInitShape<typeof ContainerConfigSchema>;

async function waitDead(pid: number): Promise<boolean> {
  for (let i = 0; i < 200 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  return !isAlive(pid);
}

/** The pod's runsc sandbox: its host pid and its control socket (a file in the pod's runsc root with a current runsc). */
function sandboxOf(podsDir: string, podId: string): { pid: number; socket: string } {
  const dir = join(podsDir, podId);
  return { pid: Number(readFileSync(join(dir, "gvisor", "sandbox.pid"), "utf8").trim()), socket: join(dir, "runsc", `runsc-_${podId}.sock`) };
}

/** What the restart scenario needs of an environment. */
interface RestartEnv {
  cri: () => CriClient;
  handler: string;
  podsDir: string;
  logDir: string;
  kill9: () => Promise<void>;
  restart: () => Promise<void>;
}

/**
 * Three pods: `survivor` runs on; `dier` has containers that exit 42 and die of
 * SIGKILL (137) while kuasard is down (asked of the sandbox itself, as the test
 * waits for them); `victim`'s sandbox is SIGKILLed meanwhile. After the restart
 * the exits carry their real statuses, the victim is NotReady, the survivor
 * serves; no process per container waits on the host.
 */
async function exitsAcrossRestart(env: RestartEnv): Promise<void> {
  const signal = mkdtempSync("/tmp/gv-signal-");
  try {
    const cri = env.cri();
    const survivor = await runPod(cri, env.handler, podConfig("survivor", `${env.logDir}/s`), [shContainer("c", "trap 'exit 0' TERM; while true; do sleep 0.1; done")]);
    // Exit once the test drops a file into their volume (a shared mount: gVisor sees host changes).
    const onSignal = (name: string, end: string) => ({ ...shContainer(name, `while [ ! -f /signal/go ]; do sleep 0.1; done; ${end}`), mounts: [{ containerPath: "/signal", hostPath: signal }] }) as ContainerConfig;
    const dier = await runPod(cri, env.handler, podConfig("dier", `${env.logDir}/d`), [onSignal("answer", "exit 42"), onSignal("killed", "kill -9 $$")]);
    const victim = await runPod(cri, env.handler, podConfig("victim", `${env.logDir}/v`), [shContainer("c", "sleep 100000")]);
    // Two containers created but not started: runsc has neither until Start (`runsc run`).
    const survivorConfig = podConfig("survivor", `${env.logDir}/s`);
    const lateConfig = shContainer("late", "echo late-started; exit 7");
    const create = async (c: ContainerConfig) => (await cri.runtime.createContainer({ podSandboxId: survivor.podId, config: c, sandboxConfig: survivorConfig })).containerId;
    const late = await create(lateConfig);
    const never = await create(shContainer("never", "exit 1"));
    const dierSandbox = sandboxOf(env.podsDir, dier.podId);
    const victimSandbox = sandboxOf(env.podsDir, victim.podId);
    assert.ok(existsSync(dierSandbox.socket), "runsc keeps the sandbox's control socket in the pod's root");

    // No process per container waits for it on the host (no `runsc wait`).
    const waiters = (await listProcesses()).filter((p) => (p.exe ?? "").endsWith("/runsc") && p.cmdline.includes("wait"));
    assert.deepEqual(waiters.map((p) => p.cmdline.join(" ")), [], "no runsc wait processes");

    await env.kill9();
    writeFileSync(join(signal, "go"), "");
    // The sandbox itself says when each container ended (and with what); kuasard is not there to see it.
    const statuses = await Promise.all(dier.ids.map(async (id) => exitStatusOfWaitStatus(await urpcCall<number>(dierSandbox.socket, "containerManager.Wait", id))));
    assert.deepEqual(statuses, [42, 137]);
    process.kill(victimSandbox.pid, "SIGKILL");
    assert.ok(await waitDead(victimSandbox.pid), "the victim's sandbox is gone");

    await env.restart();
    await afterRedial(() => env.cri().runtime.podSandboxStatus({ podSandboxId: survivor.podId }));
    const after = env.cri();
    for (const p of [survivor, dier]) {
      assert.equal((await after.runtime.podSandboxStatus({ podSandboxId: p.podId })).status?.state, PodSandboxState.SANDBOX_READY);
    }
    assert.equal((await after.runtime.containerStatus({ containerId: survivor.ids[0]! })).status?.state, ContainerState.CONTAINER_RUNNING);
    // The containers created before the restart: one starts now, with its output and exit code; the other is removed unstarted.
    assert.equal((await after.runtime.containerStatus({ containerId: late })).status?.state, ContainerState.CONTAINER_CREATED);
    await after.runtime.startContainer({ containerId: late });
    assert.equal((await waitExited(after, late)).exitCode, 7, "a container created before the restart starts after it");
    await waitForLog(logFile(survivorConfig, lateConfig), "late-started");
    await after.runtime.removeContainer({ containerId: never });
    await after.runtime.removeContainer({ containerId: late });
    assert.deepEqual(readdirSync(join(env.podsDir, survivor.podId, "gvisor")).filter((f) => f.includes(late) || f.includes(never)), [], "nothing left of the two in the pod's files");
    assert.equal((await waitExited(after, dier.ids[0]!)).exitCode, 42, "the real exit code of the container that exited while we were down");
    assert.equal((await waitExited(after, dier.ids[1]!)).exitCode, 137, "SIGKILL while we were down");
    assert.equal((await waitExited(after, victim.ids[0]!)).state, ContainerState.CONTAINER_EXITED);
    let state: PodSandboxState | undefined;
    for (let i = 0; i < 300 && state !== PodSandboxState.SANDBOX_NOTREADY; i++) {
      state = (await after.runtime.podSandboxStatus({ podSandboxId: victim.podId })).status?.state;
      if (state !== PodSandboxState.SANDBOX_NOTREADY) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(state, PodSandboxState.SANDBOX_NOTREADY, "the pod whose sandbox died while we were down");

    // The survivor is managed as before, and its exit still comes from the sandbox.
    const ex = await after.runtime.execSync({ containerId: survivor.ids[0]!, cmd: ["echo", "alive"], timeout: 20n });
    assert.equal(decodeOut(ex.stdout), "alive\n");
    await after.runtime.stopContainer({ containerId: survivor.ids[0]!, timeout: 10n });
    assert.equal((await waitExited(after, survivor.ids[0]!)).exitCode, 0);
    for (const p of [survivor, dier, victim]) {
      await after.runtime.stopPodSandbox({ podSandboxId: p.podId });
      await after.runtime.removePodSandbox({ podSandboxId: p.podId });
    }
    assert.deepEqual(readdirSync(env.podsDir), []);
  } finally {
    rmSync(signal, { recursive: true, force: true });
  }
}

describe("gvisor sandboxer restart (kill -9): exit codes kept", () => {
  it("under stock containerd 2.x (proxy sandbox plugin)", async (t) => {
    const env = await containerd2WithKuasar(t, ["gvisor"]);
    await exitsAcrossRestart({
      cri: () => env.cri,
      handler: GVISOR_HANDLER,
      podsDir: join(env.sandboxerDir, "pods"),
      logDir: `${env.dir}/logs`,
      kill9: () => env.sandboxer.kill9(),
      restart: async () => void (await env.restartSandboxer()),
    });
  });

  it("under stock containerd 1.7 (shim bridge)", async (t) => {
    const env = await containerd17WithKuasar(t, ["runc", "gvisor"]);
    await exitsAcrossRestart({
      cri: () => env.cri,
      handler: GVISOR_HANDLER_17,
      podsDir: join(env.dir, "kg", "pods"),
      logDir: `${env.dir}/logs`,
      kill9: () => env.kuasard.kill9(),
      restart: async () => void (await env.restartKuasard()),
    });
  });
});
