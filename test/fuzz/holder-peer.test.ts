import assert from "node:assert/strict";
import { once } from "node:events";
import type { Socket } from "node:net";
import { dirname } from "node:path";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { isErrorCode, RuntimeError } from "../../src/errors/runtime-error.js";
import { HolderClient } from "../../src/holder/holder-client.js";
import { decodeFields, encodeMessage, Event, MAX_REPLY_LENGTH, MessageDecoder, Reply } from "../../src/holder/holder-protocol.js";
import { silentLogger } from "../../src/log/logger.js";
import { Pod, type PodListener } from "../../src/pod/pod.js";
import type { SandboxRecord } from "../../src/pod/records.js";
import { unixServer } from "../../testing/unix-server.js";
import { fuzzSeed, Prng } from "./fuzz-kit.js";

/**
 * The other direction of the holder protocol: what kuasard reads. A VM guest's agent speaks it
 * from inside the guest, which a pod's workload may own, so every byte it sends is hostile
 * input to the daemon that serves every pod. Each connection here gets a stream of replies
 * and events, valid, damaged or junk, with kuasard's own consumers listening (a Pod recording
 * exits, output and eof listeners as the stdio relays have them, one of them failing on a
 * poisoned id). Whatever comes, the process goes on, every call settles, and a bad stream ends
 * only its own connection, with an Internal reason.
 */

const STREAMS = 150;

function frame(fields: readonly string[]): Buffer {
  return encodeMessage(fields, MAX_REPLY_LENGTH);
}

/** A reply or event, valid or not, for the request `rid` the peer just read. */
function hostileFrame(r: Prng, rid: string): Buffer {
  const id = r.pick(["c1", "init:c1", ":podinit", "-", "poison", "", "x".repeat(300)]);
  const num = () => r.pick(["0", "1", "-1", "137", "4294967296", "99999999999999999999", "NaN", "", "1e3", " 7"]);
  const valid = [
    frame([Reply.Ok, rid]),
    frame([Reply.Ok, rid, num(), num()]),
    frame([Reply.Err, rid, num(), "no such thing"]),
    frame([Event.Exit, "0", num(), num(), num(), num(), id]),
    frame([Event.Out, "0", id, r.pick(["1", "2", "3", "x"]), r.pick(["aGk=", "", "!!notbase64", "aGk"])]),
    frame([Event.Eof, "0", id, r.pick(["1", "2", "0"])]),
    frame([Reply.Ok, r.pick(["999", rid + "x", "0"])]), // a reply nobody asked for
  ];
  switch (r.int(6)) {
    case 0:
      return r.mutate(r.pick(valid));
    case 1:
      return r.junk(256);
    case 2: {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(r.pick([0, 1, MAX_REPLY_LENGTH + 1, 0xffffffff]));
      return Buffer.concat([head, r.junk(16)]);
    }
    default:
      return r.pick(valid);
  }
}

/** A peer that answers each request it reads with a few hostile frames, sometimes split or followed by a close. */
function hostilePeer(r: Prng, s: Socket): void {
  const decoder = new MessageDecoder();
  s.on("error", () => {});
  s.on("data", (chunk) => {
    let payloads: Uint8Array[];
    try {
      payloads = decoder.push(chunk);
    } catch {
      s.destroy();
      return;
    }
    for (const p of payloads) {
      const [verb = "", rid = ""] = decodeFields(p);
      // Mostly the right answer (so calls can succeed amid the noise), with valid events around it.
      const answer = frame(verb === "ping" ? [Reply.Ok, rid, "12", "0"] : verb === "exits" ? [Reply.Ok, rid, ""] : [Reply.Ok, rid]);
      const frames = r.chance(0.7) ? [answer] : Array.from({ length: 1 + r.int(4) }, () => hostileFrame(r, rid));
      if (r.chance(0.3)) frames.unshift(frame([Event.Exit, "0", String(100 + r.int(50)), String(r.int(256)), "1700000000", "0", r.pick(["c1", "init:c1", "-"])]));
      const out = Buffer.concat(frames);
      if (r.chance(0.3)) for (let at = 0; at < out.length; at += 1 + r.int(8)) s.write(out.subarray(at, at + 8));
      else s.write(out);
      if (r.chance(0.1)) s.end();
    }
  });
}

describe("fuzz: what a holder or a VM guest's agent sends kuasard", { timeout: 120_000 }, () => {
  it(`takes ${STREAMS} hostile reply and event streams: no crash, every call settles, a bad stream ends its own connection only`, async (t) => {
    const seed = fuzzSeed("holder-peer");
    t.diagnostic(`FUZZ_SEED=${seed}`);
    const r = new Prng(seed);
    const path = await unixServer(t, (s) => hostilePeer(r, s));
    const dir = dirname(path);

    const lost: string[] = [];
    const owner: PodListener = { supervisorLost: (p) => void lost.push(p.id), sandboxDied: () => {} };
    const outcomes = new Map<string, number>();
    const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    for (let i = 0; i < STREAMS; i++) {
      const client = await HolderClient.connectSocket(path, { timeoutMs: 300 });
      const pod = new Pod({ id: `pod${i}`, state: "ready" } as SandboxRecord, dir, silentLogger(), owner);
      pod.attach(client);
      const relayed: Buffer[] = [];
      client.onOutput((id, _fd, data) => {
        if (id === "poison") throw new Error("a relay bug on a poisoned id");
        relayed.push(data);
      });
      client.onEof((id) => {
        if (id === "poison") throw new Error("a relay bug on a poisoned eof");
      });
      let closedWith: RuntimeError | undefined | null = null;
      client.on("close", (reason) => (closedWith = reason));
      const calls = [client.ping(), client.exits(), client.kill(1, 0), client.ping()];
      const settled = await Promise.allSettled(calls);
      for (const s of settled) {
        if (s.status === "fulfilled") count("ok");
        else {
          const e = s.reason as unknown;
          assert.ok(e instanceof RuntimeError, `a call fails with a status, not ${String(e)}`);
          count(String(e.code));
        }
      }
      if (closedWith !== null && closedWith !== undefined) {
        assert.ok(isErrorCode(closedWith, Code.Internal) || isErrorCode(closedWith, Code.Unavailable), `closed with ${String(closedWith)}`);
        count("closed by error");
      }
      await client.close().catch(() => {});
      pod.onExit(() => {}); // the pod object still works after whatever it recorded
    }
    t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}; pods that lost their supervisor: ${lost.length}`);
    assert.ok((outcomes.get("closed by error") ?? 0) > 0, "some streams were bad enough to end their connection");
    assert.ok((outcomes.get("ok") ?? 0) > 0, "some calls got valid replies among the noise");
  });

  it("a listener that fails on what the peer sent ends that connection with Internal, naming why; the process goes on", async (t) => {
    const path = await unixServer(t, (s) => s.write(frame([Event.Out, "0", "poison", "1", "aGk="])));
    const client = await HolderClient.connectSocket(path, { timeoutMs: 2000 });
    client.onOutput(() => {
      throw new Error("a relay bug");
    });
    const closed = once(client, "close") as Promise<[RuntimeError | undefined]>;
    const ping = client.ping();
    const [reason] = await closed;
    assert.ok(reason && isErrorCode(reason, Code.Internal), String(reason));
    assert.match(reason.message, /holder message handling failed: a relay bug/);
    await assert.rejects(ping, (e: unknown) => isErrorCode(e, Code.Internal));
  });
});
