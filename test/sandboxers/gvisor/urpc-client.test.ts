import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Code } from "../../../src/errors/code.js";
import { exitStatusOfWaitStatus, urpcCall } from "../../../src/sandboxers/gvisor/urpc-client.js";

/** A control socket answering each call with `reply(call)`, written in two pieces (a stream has no message boundaries). */
async function server(t: { after: (f: () => void) => void }, reply: (call: { method: string; arg: unknown }) => object | undefined) {
  const dir = mkdtempSync(join(tmpdir(), "urpc-"));
  const path = join(dir, "ctl.sock");
  const s = createServer((c) => {
    let text = "";
    c.setEncoding("utf8");
    c.on("data", (d: string) => {
      text += d;
      const r = reply(JSON.parse(text) as { method: string; arg: unknown });
      if (!r) return c.destroy();
      const out = JSON.stringify(r);
      c.write(out.slice(0, 5));
      setImmediate(() => c.write(out.slice(5)));
    });
  });
  await new Promise<void>((res) => s.listen(path, res));
  t.after(() => {
    s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return path;
}

describe("urpc client of a runsc sandbox's control socket", () => {
  it("sends {method, arg} and reads the result across chunks", async (t) => {
    const path = await server(t, (c) => ({ success: true, err: "", result: c.method === "containerManager.Wait" && c.arg === "c1" ? 42 << 8 : -1 }));
    assert.equal(await urpcCall<number>(path, "containerManager.Wait", "c1"), 42 << 8);
  });

  it("rejects with the remote error", async (t) => {
    const path = await server(t, () => ({ success: false, err: "container c9 not found", result: null }));
    await assert.rejects(urpcCall(path, "containerManager.Wait", "c9"), /container c9 not found/);
  });

  it("rejects Unavailable when the sandbox hangs up without a reply, or is not there", async (t) => {
    const path = await server(t, () => undefined);
    await assert.rejects(urpcCall(path, "containerManager.Wait", "c1"), { code: Code.Unavailable });
    await assert.rejects(urpcCall(join(path, "..", "none.sock"), "containerManager.Wait", "c1"), { code: Code.Unavailable });
  });

  it("turns wait statuses into exit statuses: the code, or 128+signal", () => {
    assert.equal(exitStatusOfWaitStatus(42 << 8), 42);
    assert.equal(exitStatusOfWaitStatus(9), 137);
    assert.equal(exitStatusOfWaitStatus(0), 0);
  });
});
