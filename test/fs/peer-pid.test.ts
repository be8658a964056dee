import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { PeerPidLookup } from "../../src/fs/peer-pid.js";

describe("peer pid lookup (SO_PEERCRED through kuasar-peercred)", () => {
  it("names the process at the other end of each accepted socket, batched, and leaves the sockets working", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "peer-pid-"));
    const path = join(dir, "s.sock");
    const accepted: Socket[] = [];
    const received: string[] = [];
    const server = createServer((s) => {
      accepted.push(s);
      s.on("data", (d) => received.push(d.toString()));
    });
    await new Promise<void>((r) => server.listen(path, r));
    t.after(() => {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const ours = [connect(path), connect(path), connect(path)];
    while (accepted.length < 3) await new Promise((r) => setTimeout(r, 5));
    const lookup = new PeerPidLookup();
    const pids = await Promise.all(accepted.map((s) => lookup.pidOf(s)));
    assert.deepEqual(pids, [process.pid, process.pid, process.pid]);
    ours[0]!.write("still flowing");
    while (received.length === 0) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(received, ["still flowing"]);
    for (const s of ours) s.destroy();
  });

  it("answers undefined for a socket already gone and when the helper is missing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "peer-pid-"));
    const path = join(dir, "s.sock");
    const accepted: Socket[] = [];
    const server = createServer((s) => accepted.push(s));
    await new Promise<void>((r) => server.listen(path, r));
    const c = connect(path);
    while (accepted.length < 1) await new Promise((r) => setTimeout(r, 5));
    assert.equal(await new PeerPidLookup("/nonexistent/kuasar-peercred").pidOf(accepted[0]!), undefined);
    accepted[0]!.destroy();
    assert.equal(await new PeerPidLookup().pidOf(accepted[0]!), undefined);
    c.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
