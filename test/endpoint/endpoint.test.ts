import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Endpoint } from "../../src/endpoint/endpoint.js";
import { ROUTE_KEY } from "../../src/endpoint/route.js";
import { Code } from "../../src/errors/code.js";
import { RuntimeError } from "../../src/errors/runtime-error.js";
import { Endpoint as EndpointService } from "../../src/gen/kuasar/endpoint/v1/endpoint_pb.js";
import { silentLogger } from "../../src/log/logger.js";
import { TtrpcClient } from "../../src/ttrpc/client.js";
import { TtrpcServer } from "../../src/ttrpc/server.js";
import { serviceClient } from "../../src/ttrpc/service.js";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** A stand-in kuasard: answers `test.Task/<Method>` with "<route>:<method>:<payload>". */
async function backend(t: TestContext, path: string, opts: { hang?: Set<string> } = {}) {
  const calls: string[] = [];
  const server = new TtrpcServer({
    fallback: async (payload, ctx) => {
      calls.push(ctx.method);
      if (opts.hang?.has(ctx.method)) await new Promise(() => {});
      return enc(`${ctx.metadata.get(ROUTE_KEY)?.[0]}:${ctx.method}:${dec(payload)}`);
    },
  });
  await server.listen(path);
  t.after(() => server.destroy());
  return { server, calls };
}

async function setup(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), "endpoint-test-"));
  const paths = { control: join(dir, "endpoint.sock"), backend: join(dir, "kuasard.sock"), task: join(dir, "task.sock") };
  const endpoint = new Endpoint({ controlPath: paths.control, backendPath: paths.backend }, silentLogger());
  await endpoint.start();
  const control = await TtrpcClient.connect(paths.control);
  const api = serviceClient(control, EndpointService);
  await api.listen({ route: "task/runc", path: paths.task });
  const containerd = await TtrpcClient.connect(`unix://${paths.task}`);
  t.after(async () => {
    containerd.destroy();
    control.destroy();
    await endpoint.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  return { paths, api, containerd };
}

describe("kuasar-endpoint relay", () => {
  it("relays calls to kuasard tagged with the route, and Listen is idempotent", async (t) => {
    const { paths, api, containerd } = await setup(t);
    await backend(t, paths.backend);
    assert.equal(dec(await containerd.call("containerd.task.v3.Task", "State", enc("c1"))), "task/runc:State:c1");
    await api.listen({ route: "task/runc", path: paths.task });
    await assert.rejects(api.listen({ route: "task/runc", path: `${paths.task}2` }), { code: Code.AlreadyExists });
    const st = await api.status({});
    assert.equal(st.listeners["task/runc"], paths.task);
    assert.equal(st.backendConnected, true);
    assert.equal(st.connections, 1);
  });

  it("holds calls made while kuasard is down and delivers them when it comes back", async (t) => {
    const { paths, containerd } = await setup(t);
    const early = containerd.call("containerd.task.v3.Task", "Create", enc("c2"));
    await new Promise((r) => setTimeout(r, 100));
    await backend(t, paths.backend);
    assert.equal(dec(await early), "task/runc:Create:c2");
  });

  it("keeps containerd's connection across a kuasard crash; re-issues Wait, fails Start with Unavailable", async (t) => {
    const { paths, api, containerd } = await setup(t);
    const first = await backend(t, paths.backend, { hang: new Set(["Wait", "Start"]) });
    const wait = containerd.call("containerd.task.v3.Task", "Wait", enc("c3"));
    const start = containerd.call("containerd.task.v3.Task", "Start", enc("c3"));
    while (first.calls.length < 2) await new Promise((r) => setTimeout(r, 5));
    await first.server.destroy(); // kuasard dies with both calls in flight
    await assert.rejects(start, { code: Code.Unavailable, message: /kuasard restarted during Start/ });
    const second = await backend(t, paths.backend);
    assert.equal(dec(await wait), "task/runc:Wait:c3");
    assert.deepEqual(second.calls, ["Wait"]);
    assert.equal(containerd.closed, false);
    assert.equal((await api.status({})).connections, 1);
  });

  it("honours the caller's deadline while kuasard is away", async (t) => {
    const { containerd } = await setup(t);
    await assert.rejects(containerd.call("containerd.task.v3.Task", "State", enc("c4"), { timeoutMs: 100 }), { code: Code.DeadlineExceeded });
    assert.equal(containerd.closed, false);
  });

  it("passes kuasard's errors through unchanged", async (t) => {
    const { paths, containerd } = await setup(t);
    const server = new TtrpcServer();
    server.register("containerd.task.v3.Task", {
      Kill: async () => {
        throw new RuntimeError(Code.NotFound, "process already finished");
      },
    });
    await server.listen(paths.backend);
    t.after(() => server.destroy());
    await assert.rejects(containerd.call("containerd.task.v3.Task", "Kill", new Uint8Array()), { code: Code.NotFound, message: "process already finished" });
    await assert.rejects(containerd.call("containerd.task.v3.Task", "Nope", new Uint8Array()), { code: Code.Unimplemented, message: "method Nope" });
  });
});
