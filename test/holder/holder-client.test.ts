import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { once } from "node:events";
import { HolderClient } from "../../src/holder/holder-client.js";

describe("HolderClient deadlines", () => {
  it("a short connect deadline does not shorten its calls' (an agent connected in a retry loop answers at its own pace)", async (t) => {
    const dir = mkdtempSync("/tmp/holder-client-");
    const sockets: Socket[] = [];
    const server = createServer((s) => void sockets.push(s)); // accepts, never answers
    t.after(() => {
      for (const s of sockets) s.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const path = join(dir, "silent.sock");
    server.listen(path);
    await once(server, "listening");

    const client = await HolderClient.connectSocket(path, { connectTimeoutMs: 50, timeoutMs: 400 });
    t.after(() => client.close().catch(() => {}));
    await assert.rejects(client.ping(), /no reply within 400 ms/, "the call's deadline is the client's, not the connect's");

    const plain = await HolderClient.connectSocket(path, { timeoutMs: 150 });
    t.after(() => plain.close().catch(() => {}));
    await assert.rejects(plain.ping(), /no reply within 150 ms/);
  });
});
