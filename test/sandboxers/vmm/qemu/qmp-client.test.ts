import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { QmpClient } from "../../../../src/sandboxers/vmm/qemu/qmp-client.js";

/** A QMP server speaking the protocol's shape: greeting, capabilities, replies by id, events in between. */
async function fakeQmp(t: { after(fn: () => void): void }, onCommand: (cmd: { execute: string; id: string }, s: Socket) => void) {
  const dir = mkdtempSync("/tmp/qmp-");
  const path = join(dir, "qmp.sock");
  const server = createServer((s) => {
    s.write('{"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": []}}\r\n');
    let buf = "";
    s.on("data", (d) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const cmd = JSON.parse(buf.slice(0, nl)) as { execute: string; id: string };
        buf = buf.slice(nl + 1);
        if (cmd.execute === "qmp_capabilities") s.write(`{"return": {}, "id": "${cmd.id}"}\r\n`);
        else onCommand(cmd, s);
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return path;
}

describe("QMP client", () => {
  it("negotiates capabilities, matches replies by id across events, and reports QEMU's errors", async (t) => {
    const path = await fakeQmp(t, (cmd, s) => {
      if (cmd.execute === "query-status") {
        s.write('{"event": "RESUME", "timestamp": {"seconds": 1, "microseconds": 2}}\r\n');
        s.write(`{"return": {"status": "running", "running": true}, "id": "${cmd.id}"}\r\n`);
      } else s.write(`{"error": {"class": "CommandNotFound", "desc": "The command ${cmd.execute} has not been found"}, "id": "${cmd.id}"}\r\n`);
    });
    const qmp = await QmpClient.connect(path);
    assert.equal(await qmp.status(), "running");
    await assert.rejects(qmp.execute("nope"), /CommandNotFound/);
    qmp.close();
    await qmp.closed;
  });

  it("treats the connection closing during quit as done, and fails pending calls when it closes", async (t) => {
    const path = await fakeQmp(t, (cmd, s) => {
      if (cmd.execute === "quit") s.destroy();
    });
    const qmp = await QmpClient.connect(path);
    await qmp.quit();
    await qmp.closed;
    await assert.rejects(qmp.execute("query-status"));
  });
});
