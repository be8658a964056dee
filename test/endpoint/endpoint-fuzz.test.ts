import assert from "node:assert/strict";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { describe, it } from "node:test";
import { ROUTE_KEY } from "../../src/endpoint/route.js";
import { encodeFrame } from "../../src/ttrpc/frame.js";
import { TtrpcClient } from "../../src/ttrpc/client.js";
import { TtrpcServer } from "../../src/ttrpc/server.js";
import { startEndpoint } from "../../testing/endpoint-process.js";

/** Inputs per run (CI-sized); KUASAR_FUZZ_INPUTS raises it. */
const INPUTS = Number(process.env["KUASAR_FUZZ_INPUTS"] ?? 100_000);
const SEED = Number(process.env["KUASAR_FUZZ_SEED"] ?? Date.now() % 2 ** 31);

/** xorshift32: the same seed gives the same inputs. */
function prng(seed: number) {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
}

function fdList(pid: number): string {
  return readdirSync(`/proc/${pid}/fd`)
    .map((fd) => `${fd}=${readlinkSync(`/proc/${pid}/fd/${fd}`)}`)
    .join(" ");
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** A protobuf-ish Request: sometimes valid, mostly broken in one place. */
function requestBytes(rnd: () => number): Uint8Array {
  const pick = rnd();
  const junk = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
  if (pick < 0.4) return junk(Math.floor(rnd() * 64));
  const enc = new TextEncoder();
  const str = (field: number, s: string) => {
    const b = enc.encode(s);
    return [(field << 3) | 2, b.length, ...b];
  };
  const parts = [...str(1, "containerd.task.v3.Task"), ...str(2, ["State", "Wait", "Create", "Kill", ""][Math.floor(rnd() * 5)]!), ...str(3, "x")];
  if (pick < 0.7) {
    // Truncate or corrupt one byte of an otherwise valid request.
    const i = Math.floor(rnd() * parts.length);
    if (rnd() < 0.5) parts.length = i;
    else parts[i] = Math.floor(rnd() * 256);
  } else if (pick < 0.8) {
    parts.push(0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01); // an 11-byte varint
  } else if (pick < 0.9) {
    parts.push(0x2a, 0x7f); // metadata longer than what follows
  }
  return Uint8Array.from(parts);
}

/** One malformed input on its own connection: garbage, an oversize or wrong-type header, half a frame, or a frame with a broken Request. */
function connectionInput(rnd: () => number): Buffer {
  const pick = rnd();
  if (pick < 0.2) return Buffer.from(Uint8Array.from({ length: 1 + Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256)));
  if (pick < 0.35) {
    const h = Buffer.alloc(10);
    h.writeUInt32BE(0x400001 + Math.floor(rnd() * 0xfffffff), 0); // beyond 4 MiB
    h.writeUInt32BE(1, 4);
    h[8] = 1;
    return h;
  }
  if (pick < 0.5) return encodeFrame(1 + 2 * Math.floor(rnd() * 100), Math.floor(rnd() * 256), Math.floor(rnd() * 256), requestBytes(rnd));
  const frame = encodeFrame(1 + 2 * Math.floor(rnd() * 100), 1, 0, requestBytes(rnd));
  return pick < 0.75 ? frame.subarray(0, Math.floor(rnd() * frame.length)) : frame;
}

function send(path: string, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = connect(path);
    s.on("error", () => resolve());
    s.on("connect", () => {
      s.write(bytes);
      // Half of them go away at once (mid-frame), half wait for an answer or a close.
      if (bytes.length % 2 === 0) s.destroy();
      else s.end();
      setTimeout(() => s.destroy(), 200).unref();
    });
    s.on("close", () => resolve());
  });
}

describe("kuasar-endpoint under malformed input", () => {
  it(`survives ${INPUTS} malformed inputs with memory and fds bounded (seed ${SEED})`, async (t) => {
    t.diagnostic(`seed ${SEED} (KUASAR_FUZZ_SEED=${SEED} reproduces)`);
    const ep = await startEndpoint();
    t.after(() => ep.stop());
    const task = `${ep.dir}/task.sock`;
    await (await ep.control()).listen({ route: "task/runc", path: task });
    const backend = new TtrpcServer({ fallback: async (payload, ctx) => Uint8Array.from([...new TextEncoder().encode(`${ctx.metadata.get(ROUTE_KEY)?.[0]}:`), ...payload]) });
    await backend.listen(ep.paths.backend);
    t.after(() => backend.destroy());
    const healthy = await TtrpcClient.connect(`unix://${task}`);
    t.after(() => healthy.destroy());
    await healthy.call("containerd.task.v3.Task", "State", new Uint8Array([1]));
    const { pid, custodyPid } = await ep.waitRelay();
    const base = { relayFds: fdCount(pid), custodyFds: fdCount(custodyPid), rss: rssKb(pid), custodyRss: rssKb(custodyPid) };

    const rnd = prng(SEED);
    // Most inputs go down one long-lived connection as whole frames (each answered or refused);
    // the rest each get a connection of their own (garbage that closes it, or a drop mid-frame).
    const perConnection = Math.floor(INPUTS / 10);
    const raw = connect(task);
    await new Promise((r) => raw.once("connect", r));
    let answered = 0;
    raw.on("data", (d: Buffer) => (answered += d.length));
    raw.on("error", () => {});
    const onStream = INPUTS - perConnection;
    for (let i = 0; i < onStream; i++) {
      raw.write(encodeFrame(2 * i + 1, 1, 0, requestBytes(rnd)));
      if (i % 2000 === 1999) await new Promise((r) => setTimeout(r, 5));
    }
    for (let i = 0; i < perConnection; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, perConnection - i) }, () => send(task, connectionInput(rnd))));
    }
    // Everything sent has been taken in and the endpoint still serves.
    for (let i = 0; i < 200 && answered === 0; i++) await new Promise((r) => setTimeout(r, 10));
    raw.destroy();
    assert.ok(answered > 0, "the long-lived connection got answers");
    assert.equal(Buffer.from(await healthy.call("containerd.task.v3.Task", "State", new Uint8Array([2]))).toString(), "task/runc:\u0002");
    const after = await ep.waitRelay();
    assert.equal(after.pid, pid, "the relay never crashed");
    assert.equal(after.custodyPid, custodyPid, "custody never crashed");
    assert.equal(after.relayGeneration, 1);
    // Connections that went away left nothing behind.
    for (let i = 0; i < 100 && (fdCount(pid) > base.relayFds || fdCount(custodyPid) > base.custodyFds); i++) await new Promise((r) => setTimeout(r, 20));
    if (fdCount(pid) > base.relayFds) {
      process.kill(pid, "SIGUSR1");
      await new Promise((r) => setTimeout(r, 1100));
      t.diagnostic(ep.logs().split("\n").filter((l) => l.includes("route task/runc:")).join("\n"));
    }
    const now = { relayFds: fdCount(pid), custodyFds: fdCount(custodyPid), rss: rssKb(pid), custodyRss: rssKb(custodyPid) };
    t.diagnostic(`relay fds ${base.relayFds} -> ${now.relayFds}, custody fds ${base.custodyFds} -> ${now.custodyFds}, relay RSS ${base.rss} -> ${now.rss} KiB, custody RSS ${base.custodyRss} -> ${now.custodyRss} KiB`);
    assert.ok(now.relayFds <= base.relayFds, `relay fds back where they were: ${fdList(pid)}; status ${JSON.stringify(await ep.waitRelay())}`);
    assert.ok(now.custodyFds <= base.custodyFds, "custody fds back where they were");
    assert.ok(now.rss - base.rss < 2048, `relay RSS grew by ${now.rss - base.rss} KiB`);
    assert.ok(now.custodyRss - base.custodyRss < 1024, `custody RSS grew by ${now.custodyRss - base.custodyRss} KiB`);
  });
});
