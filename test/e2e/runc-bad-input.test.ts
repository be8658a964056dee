import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Code } from "../../src/errors/code.js";
import { create, toBinary } from "@bufbuild/protobuf";
import { PodSandboxConfigSchema } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { assertIsolated } from "../../testing/isolation.js";
import { censusDiff, takeCensus } from "../../testing/leak-census.js";
import { loneRuncSandboxer } from "../../testing/lone-sandboxer.js";
import { startSandboxer } from "../../testing/kuasard.js";

assertIsolated();

/** A runc-sandboxer on its own sockets, with no containerd (bad input never reaches one). */
const sandboxer = (t: TestContext, extraToml?: string) => loneRuncSandboxer(t, extraToml === undefined ? { prefix: "kb-" } : { prefix: "kb-", extraToml });

// No container runs here, so no cgroup is counted (other test runs on the host make theirs).
const leftovers = (stateDir: string) => ({
  sandboxes: readdirSync(join(stateDir, "sandboxes")),
  pods: readdirSync(join(stateDir, "pods")),
});

describe("runc sandboxer: bad input gets a clear error and loses nothing", () => {
  it("refuses bad ids, duplicates, unknown ids and a missing netns with the right codes", async (t) => {
    const { api, stateDir } = await sandboxer(t);
    for (const bad of ["a/b", "..", "../etc", "x/../../y", ""]) {
      await assert.rejects(api.create({ sandboxId: bad }), { code: Code.InvalidArgument }, JSON.stringify(bad));
    }
    await assert.rejects(api.create({ sandboxId: "p1", netnsPath: "/run/netns/does-not-exist" }), {
      code: Code.InvalidArgument,
      message: /network namespace \/run\/netns\/does-not-exist does not exist/,
    });
    assert.deepEqual(leftovers(stateDir), { sandboxes: [], pods: [] });

    await api.create({ sandboxId: "p1" });
    await assert.rejects(api.create({ sandboxId: "p1" }), { code: Code.AlreadyExists });
    for (const call of [() => api.start({ sandboxId: "nope" }), () => api.stop({ sandboxId: "nope" }), () => api.status({ sandboxId: "nope" })]) {
      await assert.rejects(call(), { code: Code.NotFound, message: /sandbox nope not found/ });
    }
    // Shutdown is idempotent: of a sandbox that is not (or no longer) there, it succeeds.
    await api.shutdown({ sandboxId: "nope" });
    await assert.rejects(api.stop({ sandboxId: "../p1" }), { code: Code.InvalidArgument });
    // Still serving, and the good sandbox is intact.
    await api.start({ sandboxId: "p1" });
    assert.equal((await api.status({ sandboxId: "p1" })).state, "SANDBOX_READY");
    await assert.rejects(api.start({ sandboxId: "p1" }), { code: Code.FailedPrecondition, message: /invalid state transition: ready => ready/ });
    await api.stop({ sandboxId: "p1" });
    await api.shutdown({ sandboxId: "p1" });
    assert.deepEqual(leftovers(stateDir), { sandboxes: [], pods: [] });
  });

  it("a Start that fails (a network namespace that is not one) leaves no record, no pod dir, no mount, no holder", async (t) => {
    const { api, stateDir } = await sandboxer(t);
    const notNetns = join(stateDir, "..", "not-a-netns");
    writeFileSync(notNetns, "");
    const before = takeCensus({ dirs: [stateDir], cgroupRoots: [] });
    await api.create({ sandboxId: "p3", netnsPath: notNetns });
    await assert.rejects(api.start({ sandboxId: "p3" }), (err: Error & { code: number }) => err.code !== Code.OK && /p3/.test(err.message));
    assert.deepEqual(leftovers(stateDir), { sandboxes: [], pods: [] });
    assert.deepEqual(censusDiff(before, takeCensus({ dirs: [stateDir], cgroupRoots: [] })), {});
    // containerd forgets a sandbox whose Start failed; a Shutdown anyway is fine.
    await assert.rejects(api.status({ sandboxId: "p3" }), { code: Code.NotFound });
    await api.shutdown({ sandboxId: "p3" });
  });

  it("refuses a hostname longer than the kernel takes as InvalidArgument at Create, leaving nothing", async (t) => {
    const { api, stateDir } = await sandboxer(t);
    const before = takeCensus({ dirs: [stateDir], cgroupRoots: [] });
    const options = { typeUrl: "type.googleapis.com/runtime.v1.PodSandboxConfig", value: toBinary(PodSandboxConfigSchema, create(PodSandboxConfigSchema, { hostname: "h".repeat(256) })) };
    await assert.rejects(api.create({ sandboxId: "p4", netnsPath: "", options }), { code: Code.InvalidArgument, message: /hostname: 256 bytes, longer than 64/ });
    assert.deepEqual(censusDiff(before, takeCensus({ dirs: [stateDir], cgroupRoots: [] })), {});
  });

  it("refuses to start with a missing runc binary, naming it, rather than failing the first pod", async () => {
    const dir = mkdtempSync("/tmp/kb-");
    try {
      writeFileSync(join(dir, "config.toml"), '[sandboxers.runc]\nrunc_binary = "/nonexistent/runc"\n');
      const s = startSandboxer({ program: "runc-sandboxer", listen: join(dir, "runc.sock"), dir: join(dir, "kr"), containerdTtrpcAddress: join(dir, "none.sock"), args: ["--state-dir", join(dir, "ks"), "--config", join(dir, "config.toml")] });
      await assert.rejects(s.ready, /runc binary \\"\/nonexistent\/runc\\" not found or not executable/);
      assert.ok(!existsSync(join(dir, "runc.sock")), "no Sandbox API socket");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
