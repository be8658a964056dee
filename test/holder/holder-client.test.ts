import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HolderClient } from "../../src/holder/holder-client.js";
import { unixServer } from "../../testing/unix-server.js";

describe("HolderClient deadlines", () => {
  it("a short connect deadline does not shorten its calls' (an agent connected in a retry loop answers at its own pace)", async (t) => {
    const path = await unixServer(t, () => {}); // accepts, never answers

    const client = await HolderClient.connectSocket(path, { connectTimeoutMs: 50, timeoutMs: 400 });
    t.after(() => client.close().catch(() => {}));
    await assert.rejects(client.ping(), /no reply within 400 ms/, "the call's deadline is the client's, not the connect's");

    const plain = await HolderClient.connectSocket(path, { timeoutMs: 150 });
    t.after(() => plain.close().catch(() => {}));
    await assert.rejects(plain.ping(), /no reply within 150 ms/);
  });
});
