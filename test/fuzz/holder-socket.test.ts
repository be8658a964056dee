import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { HolderClient } from "../../src/holder/holder-client.js";
import { MAX_REQUEST_LENGTH, MessageDecoder, Verb } from "../../src/holder/holder-protocol.js";
import { startHolder } from "../../src/holder/start-holder.js";
import { eventually, footprint, fuzzSeed, inParallel, oneShot, Prng } from "./fuzz-kit.js";

const CONNECTION_INPUTS = 4000;
const MESSAGE_INPUTS = 36_000;
/** The holder is C with fixed buffers: after the run it holds what it held (2 fds of slack) and at most 8 MiB more RSS. */
const FD_SLACK = 2;
const RSS_SLACK_KIB = 8 * 1024;

/** A length-prefixed message with `payload` as given (no NUL rules enforced: it is meant to be wrong). */
function message(payload: Buffer, lengthOverride?: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(lengthOverride ?? payload.length, 0);
  return Buffer.concat([h, payload]);
}

/** Printable junk with no NUL, digits only when `digits`. */
function field(r: Prng, digits = false): string {
  const alphabet = digits ? "0123456789" : "abcXYZ:-_/.= +%\u00e9\u4e2d";
  const n = r.chance(0.05) ? 1000 + r.int(4000) : r.int(12);
  let s = "";
  for (let i = 0; i < n; i++) s += alphabet[r.int(alphabet.length)];
  return s;
}

/**
 * A malformed request for one verb. Never `shutdown` (it would end the holder), and no
 * decimal pid for `kill` or `adopt` (a real pid could be signalled): every request is
 * meant to be refused, the point is that refusing costs nothing.
 */
function badRequest(r: Prng): Buffer {
  const verbs = [Verb.Spawn, Verb.Write, Verb.CloseStdin, Verb.Resize, Verb.Adopt, Verb.Kill, Verb.Exits, Verb.Ping, "nope", ""];
  const verb = r.pick(verbs);
  const fields: string[] = [verb];
  switch (verb) {
    case Verb.Spawn:
      // ID CWD STDIN STDOUT STDERR FLAGS ARGC ...: ARGC is never a number.
      fields.push(field(r), field(r), field(r), field(r), field(r), field(r), field(r, r.chance(0.5)), `x${field(r)}`, ...Array.from({ length: r.int(4) }, () => field(r)));
      break;
    case Verb.Kill:
    case Verb.Adopt:
      fields.push(field(r), `p${field(r)}`, r.chance(0.5) ? field(r, true) : field(r));
      break;
    default:
      for (let i = 0, n = r.int(6); i < n; i++) fields.push(field(r, r.chance(0.3)));
  }
  const parts = fields.map((f) => Buffer.from(f, "utf8"));
  let payload = Buffer.concat(parts.flatMap((p) => [p, Buffer.alloc(1)]));
  // Sometimes not NUL-terminated, or with a run of empty strings (the field-count limit).
  if (r.chance(0.1)) payload = payload.subarray(0, payload.length - 1);
  if (r.chance(0.05)) payload = Buffer.concat([payload, Buffer.alloc(100 + r.int(5000))]);
  return message(payload);
}

/** One connection-level malformed input. */
function connectionInput(r: Prng): Buffer {
  switch (r.int(4)) {
    case 0:
      return r.junk(2048);
    case 1:
      return message(r.junk(64), MAX_REQUEST_LENGTH + 1 + r.int(0x7fffffff));
    case 2: {
      const m = badRequest(r);
      return m.subarray(0, r.int(m.length));
    }
    default:
      return r.mutate(Buffer.concat([badRequest(r), badRequest(r)]));
  }
}

/** Sends `count` malformed requests pipelined on one connection; resolves to the replies read. */
function pipelined(path: string, r: Prng, count: number): Promise<number> {
  return new Promise((resolve) => {
    const s = connect(path);
    const decoder = new MessageDecoder();
    let replies = 0;
    const timer = setTimeout(() => s.destroy(), 20_000);
    s.on("error", () => {});
    s.on("data", (d: Buffer) => {
      try {
        replies += decoder.push(d).length;
      } catch {
        s.destroy();
      }
      if (replies >= count) s.end();
    });
    s.once("close", () => {
      clearTimeout(timer);
      resolve(replies);
    });
    s.once("connect", () => s.write(Buffer.concat(Array.from({ length: count }, () => badRequest(r)))));
  });
}

describe("fuzz: the pod holder's control socket", { timeout: 120_000 }, () => {
  it(`takes ${CONNECTION_INPUTS + MESSAGE_INPUTS} malformed inputs without a crash, keeping kuasard's connection`, async (t) => {
    const seed = fuzzSeed("holder");
    const r = new Prng(seed);
    const dir = await mkdtemp("/tmp/khf-");
    const holder = await startHolder(dir, { logFile: join(dir, "holder.log") });
    const kuasard = await HolderClient.connect(dir, { timeoutMs: 5000 });
    let kuasardLost = false;
    kuasard.on("close", () => (kuasardLost = true));
    t.after(async () => {
      await kuasard.shutdown({ timeoutMs: 10_000 }).catch(() => process.kill(holder.pid, "SIGKILL"));
      kuasard.destroy();
      await eventually(() => !isAlive(holder.pid), 10_000);
      await rm(dir, { recursive: true, force: true });
    });
    const sock = join(dir, "holder.sock");
    assert.equal((await kuasard.ping()).pid, holder.pid);
    const before = footprint(holder.pid);

    // 48 at once, past the holder's 32 clients: it makes room by dropping silent ones, never kuasard's.
    await inParallel(CONNECTION_INPUTS, 48, () => oneShot(sock, connectionInput(r), { graceMs: 300 }));
    let replies = 0;
    const perConnection = 500;
    await inParallel(MESSAGE_INPUTS / perConnection, 4, async () => {
      const got = await pipelined(sock, r, perConnection);
      replies += got; // not `replies += await`: that would read replies before the await
    });
    assert.equal(replies, MESSAGE_INPUTS, "the holder answered every malformed request");

    assert.equal((await kuasard.ping({ timeoutMs: 5000 })).pid, holder.pid, "kuasard's connection still works");
    assert.equal(kuasardLost, false, "kuasard's connection was never dropped");
    const settled = await eventually(() => footprint(holder.pid).fds <= before.fds + FD_SLACK, 10_000);
    const after = footprint(holder.pid);
    process.stderr.write(`fuzz holder: fds ${before.fds} -> ${after.fds}, RSS ${before.rssKiB} -> ${after.rssKiB} KiB\n`);
    assert.ok(settled, `fds back within ${FD_SLACK} of ${before.fds}: ${after.fds}`);
    assert.ok(after.rssKiB - before.rssKiB < RSS_SLACK_KIB, `RSS grew ${after.rssKiB - before.rssKiB} KiB (bound ${RSS_SLACK_KIB})`);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
