import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ADMIN_SOCKET, type AdminReply } from "../../src/admin/admin-protocol.js";
import { Code } from "../../src/errors/code.js";
import { assertIsolated } from "../../testing/isolation.js";
import { assertFootprintBounded, fuzzDaemon } from "./fuzz-daemon.js";
import { footprint, fuzzSeed, inParallel, oneShot, Prng } from "./fuzz-kit.js";

assertIsolated();

const INPUTS = 3000;

/** Requests that are well-formed JSON lines but wrong, JSON mutated, or plain junk; never a valid exec. */
function badInput(r: Prng): Buffer {
  const valid = [
    { op: "ps" },
    { op: "status" },
    { op: "inspect", sandbox: "fuzz-missing" },
    { op: "exec", sandbox: "fuzz-missing", argv: ["true"] },
  ];
  switch (r.int(5)) {
    case 0:
      return r.junk(2048);
    case 1:
      return Buffer.concat([r.mutate(Buffer.from(JSON.stringify(r.pick(valid)))), Buffer.from("\n")]);
    case 2: {
      const wrong = [{ op: r.junk(8).toString("latin1") }, { op: "exec", sandbox: "x", argv: [1, 2] }, { op: "exec", sandbox: "x", argv: ["a"], timeoutMs: "soon" }, [], null, 42, "ps", { op: "inspect", sandbox: "x".repeat(300) }];
      return Buffer.from(`${JSON.stringify(r.pick(wrong))}\n`);
    }
    case 3:
      return Buffer.alloc(70_000 + r.int(10_000), 0x7b); // past the line limit, no newline
    default:
      return Buffer.from(JSON.stringify(r.pick(valid))); // no newline: the connection ends first
  }
}

describe("fuzz: kuasard's admin socket", () => {
  it(`${INPUTS} malformed requests: each refused with a clear error or cut, the daemon serves on`, async (t) => {
    const d = await fuzzDaemon(t);
    const path = join(d.stateDir, ADMIN_SOCKET);
    const r = new Prng(fuzzSeed("admin socket"));
    const before = footprint(d.pid);
    const first: number[] = [];
    const second: number[] = [];
    let refused = 0;
    let notFound = 0;
    await inParallel(INPUTS, 16, async (i) => {
      const out = (await oneShot(path, badInput(r), { graceMs: 2000 })).toString("utf8");
      if (out) {
        const reply = JSON.parse(out) as AdminReply;
        if (!reply.ok) {
          assert.ok(reply.error.length > 0 && reply.codeName.length > 0, out);
          if (reply.code === Code.InvalidArgument) refused++;
          if (reply.code === Code.NotFound) notFound++;
        }
      }
      if (i % 100 === 0) (i < INPUTS / 2 ? first : second).push(footprint(d.pid).rssKiB);
    });
    process.stderr.write(`fuzz admin socket: ${refused} refused as InvalidArgument, ${notFound} NotFound\n`);
    assert.ok(refused > INPUTS / 4, `most inputs refused with InvalidArgument (${refused})`);
    const ok = JSON.parse((await oneShot(path, Buffer.from('{"op":"ps"}\n'), { graceMs: 5000 })).toString()) as AdminReply<{ sandboxes: unknown[] }>;
    assert.deepEqual(ok, { ok: true, result: { sandboxes: [], containers: [] } });
    await assertFootprintBounded("admin socket", d.pid, before, first, second);
  });
});
