import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Code } from "../../src/errors/code.js";
import { ContainerState, PodSandboxState } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { isAlive } from "../../src/pod/pod.js";
import { mountsBelow } from "../../src/fs/mounts.js";
import type { CriClient } from "../../testing/cri.js";
import { decodeOut, podConfig, runPod, shContainer, waitExited } from "../../testing/cri-pod.js";
import { assertIsolated } from "../../testing/isolation.js";
import { afterRedial, containerd2WithKuasar, GVISOR_HANDLER, HANDLER } from "../../testing/kuasar-containerd2.js";
import { containerd17WithKuasar, HANDLER_17 } from "../../testing/kuasar-containerd17.js";
import { takeCensus } from "../../testing/leak-census.js";
import { containerPid, entriesOf, eventually, holderPidIn, settledLeaksOf } from "../../testing/state-dir.js";

assertIsolated();

/** Short reconciliation passes, so a sandbox created and never started goes within the test. */
const RECONCILE_EVERY_SECOND = "reconcile_interval_secs = 1\n";
const LOOP = "trap 'exit 0' TERM; while true; do sleep 0.1; done";

/** Everything under `dir` that a host user other than root could write to: it must be nothing. */
function writableByOthers(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) continue;
      if (st.mode & 0o002) out.push(p);
      // A dir others cannot search hides everything below it from them.
      if (st.isDirectory() && st.mode & 0o001) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** RunPodSandbox with a hostname the kernel refuses: InvalidArgument, and nothing made. */
async function badHostnameLeavesNothing(cri: CriClient, handler: string, kr: string, logs: string): Promise<void> {
  const before = takeCensus({ dirs: [kr] });
  const cfg = { ...podConfig("longname", logs), hostname: "h".repeat(256) };
  await assert.rejects(cri.runtime.runPodSandbox({ config: cfg, runtimeHandler: handler }, { timeoutMs: 60_000 }), (err: Error & { code?: number }) => {
    assert.match(err.message, /hostname: 256 bytes, longer than 64/);
    assert.equal(err.code, Code.InvalidArgument, err.message);
    return true;
  });
  assert.deepEqual(await settledLeaksOf({ dirs: [kr] }, before, []), {});
  assert.deepEqual([entriesOf(kr, "pods"), entriesOf(kr, "sandboxes")], [[], []]);
}

/** kill -9 of the daemon as soon as RunPodSandbox made the pod dir; after a restart nothing of that pod is left. */
async function killMidRunPodSandbox(cri: CriClient, handler: string, kr: string, logs: string, kill9: () => Promise<void>, restart: () => Promise<unknown>): Promise<void> {
  const had = new Set(entriesOf(kr, "pods"));
  const run = cri.runtime.runPodSandbox({ config: podConfig("crash", logs), runtimeHandler: handler }, { timeoutMs: 60_000 }).then(
    () => "ok",
    (err: Error) => err.message,
  );
  let fresh: string | undefined;
  while (!fresh) {
    fresh = entriesOf(kr, "pods").find((p) => !had.has(p));
    if (!fresh) await new Promise((r) => setImmediate(r));
  }
  await kill9();
  const outcome = await run;
  assert.notEqual(outcome, "ok", "RunPodSandbox cannot succeed when the daemon died in it");
  await restart();
  const podDir = join(kr, "pods", fresh);
  const gone = await eventually(() => !existsSync(podDir) && !entriesOf(kr, "sandboxes").some((n) => n.startsWith(fresh!)));
  assert.ok(gone, `pod ${fresh} left: ${JSON.stringify({ pods: entriesOf(kr, "pods"), sandboxes: entriesOf(kr, "sandboxes") })}`);
  assert.deepEqual(mountsBelow(podDir), []);
}

/**
 * A pod whose record is found damaged at start: its holder, container, shm mount
 * and dir are gone once the daemon is back, and CRI can still stop and remove it.
 */
async function damagedRecordIsCleaned(
  cri: CriClient,
  handler: string,
  kr: string,
  logs: string,
  stop: () => Promise<void>,
  restart: () => Promise<unknown>,
): Promise<void> {
  const { podId, ids } = await runPod(cri, handler, podConfig("damaged", logs), [shContainer("c", LOOP)]);
  const podDir = join(kr, "pods", podId);
  const holder = holderPidIn(podDir);
  const pid = await containerPid(cri, ids[0]!);
  assert.ok(holder > 0 && pid > 0 && isAlive(holder) && isAlive(pid));
  await stop();
  const record = join(kr, "sandboxes", `${podId}.json`);
  writeFileSync(record, readFileSync(record, "utf8").slice(0, 40)); // a torn write
  await restart();
  await afterRedial(() => cri.runtime.listPodSandbox({}));
  assert.equal(isAlive(holder), false, "the damaged pod's holder is gone");
  assert.equal(isAlive(pid), false, "the damaged pod's container is gone");
  assert.equal(existsSync(podDir), false, "the damaged pod's dir is gone");
  assert.deepEqual(mountsBelow(podDir), [], "its shm is unmounted");
  assert.deepEqual(entriesOf(kr, "sandboxes").filter((n) => n.startsWith(podId)), [], "no record, no quarantined copy left");
  assert.deepEqual(entriesOf(kr, "containers"), []);
  // containerd learns of the container's end from its exit event (published while the daemon
  // recovered; containerd retries handling it until the daemon serves), then stops and removes it.
  // Killed (137), or 255 when containerd's re-issued Wait found the container gone before the event came.
  assert.ok([137, 255].includes((await waitExited(cri, ids[0]!)).exitCode));
  await cri.runtime.stopPodSandbox({ podSandboxId: podId });
  await cri.runtime.removePodSandbox({ podSandboxId: podId });
}

/**
 * A full --dir: RunPodSandbox and CreateContainer of `kind` fail with a clear error and
 * leave nothing; a running pod keeps its good record and runs on; room made, pods start again.
 */
async function fullDirKeepsPods(t: TestContext, kind: "runc" | "gvisor", handler: string): Promise<void> {
  const env = await containerd2WithKuasar(t, [kind], "", {
    prepareSandboxerDir: (dir) => {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0711", "kuasar-full", dir]);
    },
  });
  const { cri } = env;
  const kr = env.sandboxerDir;
  const logs = join(env.dir, "logs");
  const before = takeCensus({ dirs: [kr] });
  const cfg = podConfig("keeps", logs);
  const { podId, ids } = await runPod(cri, handler, cfg, [shContainer("c", LOOP)]);
  const record = join(kr, "sandboxes", `${podId}.json`);
  const good = readFileSync(record, "utf8");

  const filler = join(kr, "filler");
  spawnSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=4k"], { encoding: "utf8" }); // until the disk is full
  await assert.rejects(cri.runtime.runPodSandbox({ config: podConfig("nospace", logs), runtimeHandler: handler }, { timeoutMs: 60_000 }), /no space left on device/i);
  await assert.rejects(
    cri.runtime.createContainer({ podSandboxId: podId, config: shContainer("c2", LOOP), sandboxConfig: cfg }, { timeoutMs: 60_000 }).then(async ({ containerId }) => {
      await cri.runtime.startContainer({ containerId }, { timeoutMs: 60_000 });
    }),
    /no space left on device/i,
  );
  assert.equal(readFileSync(record, "utf8"), good, "the running pod's record is untouched");
  assert.equal(JSON.parse(good).state, "ready");
  assert.deepEqual(entriesOf(kr, "sandboxes"), [`${podId}.json`], "no temp file, no record of the failed pod");
  assert.deepEqual(entriesOf(kr, "pods"), [podId]);
  assert.equal((await cri.runtime.containerStatus({ containerId: ids[0]! })).status?.state, ContainerState.CONTAINER_RUNNING);
  assert.equal((await cri.runtime.podSandboxStatus({ podSandboxId: podId })).status?.state, PodSandboxState.SANDBOX_READY);

  rmSync(filler);
  const fresh = await runPod(cri, handler, podConfig("room", logs), [shContainer("c", "echo hi")]);
  for (const p of [podId, fresh.podId]) {
    await cri.runtime.stopPodSandbox({ podSandboxId: p });
    await cri.runtime.removePodSandbox({ podSandboxId: p });
  }
  // Whatever containerd made for the refused container is its own; ours are gone.
  const all = (await cri.runtime.listContainers({})).containers.map((c) => c.id);
  assert.deepEqual(await settledLeaksOf({ dirs: [kr] }, before, [podId, ...ids, fresh.podId, ...fresh.ids, ...all]), {});
}

describe("state integrity under stock containerd 2.x", () => {
  it("a bad hostname, a kill -9 mid-RunPodSandbox and a damaged record leave nothing; modes keep host users out", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc"], RECONCILE_EVERY_SECOND);
    const { cri } = env;
    const kr = env.sandboxerDir;
    const logs = join(env.dir, "logs");
    const before = takeCensus({ dirs: [kr] });

    await badHostnameLeavesNothing(cri, HANDLER, kr, logs);

    // Permissions of a running pod.
    const { podId, ids } = await runPod(cri, HANDLER, podConfig("modes", logs), [shContainer("c", LOOP)]);
    const podDir = join(kr, "pods", podId);
    const mode = (p: string) => (statSync(p).mode & 0o7777).toString(8);
    assert.equal(mode(join(kr, "pods")), "700");
    assert.equal(mode(podDir), "700");
    for (const f of ["holder.log", "exits", "holder.pid"]) assert.equal(mode(join(podDir, f)), "600", f);
    assert.equal(mode(join(podDir, "shm")), "1777", "the pod's tmpfs is 1777 for the pod's users");
    assert.deepEqual(writableByOthers(kr), [], "nothing under --dir that host users reach is writable by them");
    const nobody = spawnSync("ls", [join(podDir, "shm")], { uid: 65534, gid: 65534, encoding: "utf8" });
    assert.notEqual(nobody.status, 0, "a host user cannot reach the pod's shm");
    assert.match(nobody.stderr, /Permission denied/);
    const inside = await cri.runtime.execSync({ containerId: ids[0]!, cmd: ["sh", "-c", "stat -c %a /dev/shm; cat /etc/hostname"], timeout: 10n });
    assert.equal(decodeOut(inside.stdout), "1777\nmodes\n", "inside, /dev/shm is 1777 and the pod files readable");
    await cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await cri.runtime.removePodSandbox({ podSandboxId: podId });

    await killMidRunPodSandbox(cri, HANDLER, kr, logs, () => env.sandboxer.kill9(), () => env.restartSandboxer());
    await damagedRecordIsCleaned(cri, HANDLER, kr, logs, () => env.sandboxer.stop(), () => env.restartSandboxer());

    // New pods work, and when they are gone nothing is left.
    const again = await afterRedial(() => runPod(cri, HANDLER, podConfig("after", logs), [shContainer("c", "echo hi")]));
    assert.equal((await cri.runtime.podSandboxStatus({ podSandboxId: again.podId })).status?.state, PodSandboxState.SANDBOX_READY);
    await cri.runtime.stopPodSandbox({ podSandboxId: again.podId });
    await cri.runtime.removePodSandbox({ podSandboxId: again.podId });
    assert.deepEqual(await settledLeaksOf({ dirs: [kr] }, before, [podId, ...ids, again.podId, ...again.ids]), {});
  });

  it("a full --dir fails RunPodSandbox and CreateContainer with a clear error; running pods keep their good records", async (t) => {
    await fullDirKeepsPods(t, "runc", HANDLER);
  });

  it("the same for gvisor pods (runsc's own state, the sandbox's record)", async (t) => {
    await fullDirKeepsPods(t, "gvisor", GVISOR_HANDLER);
  });
});

describe("state integrity under stock containerd 1.7 (shim bridge)", () => {
  it("a bad hostname, a kill -9 mid-RunPodSandbox and a damaged record leave nothing", async (t) => {
    const env = await containerd17WithKuasar(t, ["runc"], RECONCILE_EVERY_SECOND);
    const { cri } = env;
    const kr = join(env.dir, "kr");
    const logs = join(env.dir, "logs");
    const before = takeCensus({ dirs: [kr] });
    await badHostnameLeavesNothing(cri, HANDLER_17, kr, logs);
    await killMidRunPodSandbox(cri, HANDLER_17, kr, logs, () => env.kuasard.kill9(), () => env.restartKuasard());
    await damagedRecordIsCleaned(cri, HANDLER_17, kr, logs, () => env.kuasard.stop(), () => env.restartKuasard());
    const again = await afterRedial(() => runPod(cri, HANDLER_17, podConfig("after", logs), [shContainer("c", "echo hi")]));
    await cri.runtime.stopPodSandbox({ podSandboxId: again.podId });
    await cri.runtime.removePodSandbox({ podSandboxId: again.podId });
    assert.deepEqual(await settledLeaksOf({ dirs: [kr] }, before, [again.podId, ...again.ids]), {});
  });
});
