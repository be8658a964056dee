import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { isErrorCode } from "../../src/errors/runtime-error.js";
import { podConfig } from "../../testing/cri-pod.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd2WithKuasar, HANDLER, type Containerd2WithKuasar } from "../../testing/kuasar-containerd2.js";
import { censusDiff, takeCensus, type Census } from "../../testing/leak-census.js";

assertIsolated();

/** Short bounds so the test sees them act: a stalled peer is cut within about a second. */
const LIMITS = "\n[limits]\nstall_timeout_ms = 500\nping_interval_ms = 500\n";
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
/** A HEADERS frame announcing 100 bytes, cut after 5 of them. */
const HALF_FRAME = Buffer.from([0, 0, 100, 1, 4, 0, 0, 0, 1, 0x82, 0x86, 0x84, 0x41, 0x8a]);

const scope = (env: Containerd2WithKuasar) => ({ dirs: [env.sandboxerDir], fdPids: [env.sandboxer.pid] });
const fdCount = (c: Census, pid: number) => c.fds[String(pid)]?.length ?? 0;

async function eventually(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`still not ${what} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops and removes every pod containerd knows (what a test made). */
async function removeAllPods(env: Containerd2WithKuasar): Promise<void> {
  const { items } = await env.cri.runtime.listPodSandbox({}, { timeoutMs: 30_000 });
  for (const p of items) {
    await env.cri.runtime.stopPodSandbox({ podSandboxId: p.id }, { timeoutMs: 60_000 });
    await env.cri.runtime.removePodSandbox({ podSandboxId: p.id }, { timeoutMs: 60_000 });
  }
}

/** Runs a pod, reporting how RunPodSandbox ended. */
function runPodOutcome(env: Containerd2WithKuasar, name: string, timeoutMs: number): Promise<{ ok: boolean; err?: unknown }> {
  return env.cri.runtime.runPodSandbox({ config: podConfig(name, env.dir), runtimeHandler: HANDLER }, { timeoutMs }).then(
    () => ({ ok: true }),
    (err: unknown) => ({ ok: false, err }),
  );
}

describe("kuasard's servers under containerd 2.x: bounded, no stuck calls", { timeout: 300_000 }, () => {
  it("100 gRPC clients that drop mid-frame leave kuasard's fd count where it was", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc"], LIMITS);
    // containerd's own connection is up (one pod run and gone) before counting.
    assert.equal((await runPodOutcome(env, "warm", 120_000)).ok, true);
    await removeAllPods(env);
    const before = takeCensus(scope(env));

    const stalled: Socket[] = [];
    for (let i = 0; i < 100; i++) {
      const s = connect(env.listen);
      s.on("error", () => {});
      s.resume();
      await new Promise<void>((r) => s.once("connect", r));
      s.write(Buffer.concat([PREFACE, SETTINGS, HALF_FRAME]));
      // Half drop out for good (the process died), half stall with the socket open (it hung).
      if (i % 2 === 0) s.destroy();
      else stalled.push(s);
    }
    t.after(() => stalled.forEach((s) => s.destroy()));
    await eventually("fds back where they were", () => fdCount(takeCensus(scope(env)), env.sandboxer.pid) <= fdCount(before, env.sandboxer.pid));
    // kuasard's side closing shows here once this process has read the end of each stream.
    await eventually("kuasard closed every stalled client", () => stalled.every((s) => s.destroyed || s.readableEnded));
    assert.deepEqual(censusDiff(before, takeCensus(scope(env))), {});
    // containerd's connection was never one of those cut.
    assert.equal((await runPodOutcome(env, "after", 120_000)).ok, true);
    await removeAllPods(env);
  });

  it("a daemon stopped (SIGSTOP) for 30 s during RunPodSandbox: the call ends, nothing is left half-way, the next pod runs", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc"], LIMITS);
    assert.equal((await runPodOutcome(env, "warm", 120_000)).ok, true);
    await removeAllPods(env);
    const before = takeCensus(scope(env));
    const pid = env.sandboxer.pid;
    t.after(() => {
      try {
        process.kill(pid, "SIGCONT");
      } catch {
        /* gone */
      }
    });

    // Stopped in the middle of the call (containerd has sent Create or Start), and before one.
    for (const stopAfterMs of [150, 0]) {
      const outcome = runPodOutcome(env, `stopped-${stopAfterMs}`, 60_000);
      await new Promise((r) => setTimeout(r, stopAfterMs));
      process.kill(pid, "SIGSTOP");
      await new Promise((r) => setTimeout(r, 30_000));
      process.kill(pid, "SIGCONT");
      const o = await outcome;
      // It ran, or failed with a clean error (a deadline, or containerd's dial giving up while we were stopped).
      if (!o.ok) assert.ok(isErrorCode(o.err, Code.DeadlineExceeded) || isErrorCode(o.err, Code.Unavailable) || isErrorCode(o.err, Code.Unknown), String(o.err));
      t.diagnostic(`stopped after ${stopAfterMs} ms: RunPodSandbox ${o.ok ? "completed" : `failed: ${String(o.err)}`}`);
      // A later pod runs (containerd may take a few seconds to re-dial).
      let later = await runPodOutcome(env, `later-${stopAfterMs}`, 60_000);
      for (let i = 0; !later.ok && i < 20; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        later = await runPodOutcome(env, `later-${stopAfterMs}-${i}`, 60_000);
      }
      assert.equal(later.ok, true, String(later.err));
      await removeAllPods(env);
      const after = takeCensus(scope(env));
      const { fds: _fds, ...diff } = censusDiff(before, after);
      assert.deepEqual(diff, {}, "nothing left of the pods");
      await eventually("fds back where they were", () => fdCount(takeCensus(scope(env)), pid) <= fdCount(before, pid) + 1);
    }
  });
});
