import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { isErrorCode } from "../../src/errors/runtime-error.js";
import { Controller } from "../../src/gen/containerd/services/sandbox/v1/sandbox_pb.js";
import { GrpcClient } from "../../src/grpc/client.js";
import { assertIsolated } from "../../testing/isolation.js";
import { startSandboxer, tearDownKuasar } from "../../testing/kuasard.js";

assertIsolated();

/** Live kuasar-holder processes in this pid namespace. */
function holders(): number[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        const stat = readFileSync(`/proc/${e}/stat`, "utf8");
        return stat.includes("(kuasar-holder)") && stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe("runc sandboxer: a Start whose caller gave up is finished or rolled back, never left half-way", { timeout: 180_000 }, () => {
  it("Start under deadlines from 1 ms to 200 ms: each pod ends up started once or removed whole", async (t) => {
    const dir = mkdtempSync("/tmp/ka-");
    const listen = join(dir, "runc.sock");
    const stateDir = join(dir, "ks");
    const sb = startSandboxer({ program: "runc-sandboxer", listen, dir: join(dir, "kr"), containerdTtrpcAddress: join(dir, "none.sock"), args: ["--state-dir", stateDir] });
    let pids: number[] = [];
    const client = new GrpcClient(listen, { namespace: "k8s.io" });
    t.after(() =>
      tearDownKuasar(dir, () => ({ stateDir, pids }), async () => {
        client.close();
        await sb.stop();
      }),
    );
    const { endpointPid, custodyPid } = await sb.ready;
    pids = [endpointPid, custodyPid];
    const api = client.service(Controller);
    const before = holders().length;
    const outcomes: string[] = [];
    for (const deadline of [1, 5, 10, 20, 50, 100, 200]) {
      const id = `p${deadline}`;
      await api.create({ sandboxId: id });
      const first = await api.start({ sandboxId: id }, { timeoutMs: deadline }).then(
        () => "started",
        (err: unknown) => {
          assert.ok(isErrorCode(err, Code.DeadlineExceeded), String(err));
          return "deadline";
        },
      );
      // Until the abandoned Start is done, another is refused; then the pod is either started
      // (the Start finished) or gone altogether (rolled back: containerd forgets a sandbox whose
      // Start failed, so nothing may be left of it).
      let again: string;
      for (;;) {
        again = await api.start({ sandboxId: id }, { timeoutMs: 30_000 }).then(
          () => "started",
          (err: unknown) =>
            isErrorCode(err, Code.FailedPrecondition)
              ? /in progress/.test(String(err))
                ? "busy"
                : "already ready"
              : isErrorCode(err, Code.NotFound)
                ? "rolled back"
                : `failed: ${String(err)}`,
        );
        if (again !== "busy") break;
        await new Promise((r) => setTimeout(r, 20));
      }
      outcomes.push(`${deadline} ms: ${first}, then ${again}`);
      if (first === "started") assert.equal(again, "already ready");
      if (again === "rolled back") {
        assert.equal(first, "deadline");
        await assert.rejects(api.status({ sandboxId: id }), { code: Code.NotFound });
        assert.equal(holders().length, before, `no holder left for ${id}`);
        continue;
      }
      assert.ok(again === "already ready" || again === "started", again);
      assert.equal((await api.status({ sandboxId: id })).state, "SANDBOX_READY");
      assert.equal(holders().length, before + 1, `exactly one holder for ${id} (${outcomes.at(-1)})`);
      await api.stop({ sandboxId: id });
      await api.shutdown({ sandboxId: id });
      assert.equal(holders().length, before);
    }
    t.diagnostic(outcomes.join("; "));
    assert.deepEqual(readdirSync(join(dir, "kr", "pods")), []);
  });
});
