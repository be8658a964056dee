import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { HolderClient } from "../../src/holder/holder-client.js";
import {
  decodeFields,
  encodeMessage,
  Event,
  EXITS_CHUNK_LENGTH,
  type HolderExit,
  MAX_EXITS_LENGTH,
  MessageDecoder,
  parseJournal,
  Reply,
  STREAM,
  UNSOLICITED_RID,
  Verb,
} from "../../src/holder/holder-protocol.js";
import { startHolder } from "../../src/holder/start-holder.js";

const WAIT_MS = 15_000;
const EINVAL = 22;
const EPERM = 1;
const ENOENT = 2;
const ESRCH = 3;
const EFBIG = 27;
const ENOSYS = 38;

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !"ZX".includes(stat.slice(stat.lastIndexOf(")") + 2)[0]!);
  } catch {
    return false;
  }
}

async function until(pred: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function scratchDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp("/tmp/khj-");
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts a holder on dir; after the test it is shut down (SIGKILLed by its pid if that fails). */
async function holderOn(t: TestContext, dir: string): Promise<number> {
  const { pid } = await startHolder(dir, { logFile: join(dir, "holder.log") });
  t.after(async () => {
    if (!alive(pid)) return;
    const c = await HolderClient.connect(dir).catch(() => undefined);
    await c?.shutdown({ timeoutMs: 10_000 }).catch(() => undefined);
    c?.destroy();
    await until(() => !alive(pid), `holder ${pid} to exit`).catch(() => process.kill(pid, "SIGKILL"));
  });
  return pid;
}

/** A raw connection: every message the holder sends, as strings, in arrival order. */
class Raw {
  readonly heard: string[][] = [];
  private constructor(readonly sock: Socket) {
    const decoder = new MessageDecoder();
    sock.on("data", (chunk: Buffer) => this.heard.push(...decoder.push(chunk).map((p) => decodeFields(p))));
  }

  static async open(t: TestContext, dir: string): Promise<Raw> {
    const sock = connect(join(dir, "holder.sock"));
    sock.on("error", () => undefined);
    t.after(() => sock.destroy());
    await once(sock, "connect");
    return new Raw(sock);
  }

  /** Sends a request and resolves with its reply (events in between are kept in `heard`). */
  async ask(fields: readonly string[]): Promise<string[]> {
    this.sock.write(encodeMessage(fields));
    return this.next((m) => m[1] === fields[1] && m[0] !== Event.Exit);
  }

  async next(pred: (m: string[]) => boolean): Promise<string[]> {
    await until(() => this.heard.some(pred), "a message from the holder");
    return this.heard.find(pred)!;
  }
}

function exitWith(client: HolderClient, id: string): Promise<HolderExit> {
  return new Promise((resolve) => client.on("exit", (e: HolderExit) => e.id === id && resolve(e)));
}

describe("pod holder journal and protocol", () => {
  it("replays the journal to a holder restarted on the same directory, never a torn line", async (t) => {
    const dir = await scratchDir(t);
    const first = await holderOn(t, dir);
    const c1 = await HolderClient.connect(dir);
    t.after(() => c1.destroy());
    const exited = exitWith(c1, "before");
    const pid = await c1.spawn({ id: "before", argv: ["/bin/sh", "-c", "exit 3"], env: [] });
    assert.equal((await exited).status, 3);
    await c1.shutdown({ timeoutMs: 10_000 });
    await until(() => !alive(first), "the first holder to exit");

    const whole = readFileSync(join(dir, "exits"), "utf8");
    appendFileSync(join(dir, "exits"), "99999 1 1700000000"); // a holder that died mid-write
    await holderOn(t, dir);
    const c2 = await HolderClient.connect(dir);
    t.after(() => c2.destroy());
    const replayed = await c2.exits();
    assert.deepEqual(
      replayed.map((e) => [e.pid, e.status, e.id]),
      parseJournal(whole).map((e) => [e.pid, e.status, e.id]),
    );
    assert.ok(replayed.some((e) => e.pid === pid && e.status === 3 && e.id === "before"));

    const raw = await Raw.open(t, dir);
    const size = Buffer.byteLength(whole);
    assert.deepEqual(await raw.ask([Verb.Exits, "r1", "0"]), [Reply.Ok, "r1", whole, String(size)]);
    assert.deepEqual(await raw.ask([Verb.Exits, "r2", String(size)]), [Reply.Ok, "r2", "", String(size)], "the torn tail is not sent");
    assert.deepEqual(await raw.ask([Verb.Exits, "r3", String(size + 1000)]), [Reply.Ok, "r3", "", String(size + 1000)]);

    // The torn tail was cut when the holder opened the journal: the next exit is a line of its own.
    assert.equal(readFileSync(join(dir, "exits"), "utf8"), whole);
    const after = exitWith(c2, "after");
    await c2.spawn({ id: "after", argv: ["/bin/sh", "-c", "exit 4"], env: [] });
    assert.equal((await after).status, 4);
    const journal = parseJournal(readFileSync(join(dir, "exits"), "utf8"));
    assert.deepEqual(journal.at(-1)?.id, "after", "the exit after a torn line is journaled whole");
    assert.equal(journal.at(-1)?.status, 4);
  });

  it("refuses a journal too big for one reply (EFBIG) and serves it in whole-line slices by offset", async (t) => {
    const dir = await scratchDir(t);
    const lines: string[] = [];
    for (let i = 0, n = 0; n <= MAX_EXITS_LENGTH; i++) {
      const line = `${100000 + i} ${i % 256} 1700000000 ${i} c${i}\n`;
      lines.push(line);
      n += line.length;
    }
    const text = lines.join("");
    writeFileSync(join(dir, "exits"), text);
    await holderOn(t, dir);
    const raw = await Raw.open(t, dir);
    const big = await raw.ask([Verb.Exits, "r1"]);
    assert.deepEqual(big.slice(0, 3), [Reply.Err, "r1", String(EFBIG)]);

    const slice = await raw.ask([Verb.Exits, "r2", "0"]);
    assert.equal(slice[0], Reply.Ok);
    const next = Number(slice[3]);
    assert.ok(next > 0 && next <= EXITS_CHUNK_LENGTH, `slice of ${next} bytes`);
    assert.equal(slice[2], text.slice(0, next));
    assert.ok(slice[2]!.endsWith("\n"), "a slice ends on a line boundary");

    const client = await HolderClient.connect(dir);
    t.after(() => client.destroy());
    const all = await client.exits();
    assert.equal(all.length, lines.length);
    assert.deepEqual([all.at(-1)!.pid, all.at(-1)!.id], [100000 + lines.length - 1, `c${lines.length - 1}`]);
  });

  it("answers every verb named in protocol.h, refuses any other with ENOSYS, and keeps the connection", async (t) => {
    const dir = await scratchDir(t);
    await holderOn(t, dir);
    const raw = await Raw.open(t, dir);
    const errno = async (fields: string[]) => {
      const r = await raw.ask(fields);
      return r[0] === Reply.Ok ? 0 : Number(r[2]);
    };
    // Each known verb with wrong arguments: its own error, never "unknown request".
    assert.equal(await errno([Verb.Spawn, "a1"]), EINVAL);
    assert.equal(await errno([Verb.Write, "a2"]), EINVAL);
    assert.equal(await errno([Verb.CloseStdin, "a3"]), ENOENT);
    assert.equal(await errno([Verb.Resize, "a4"]), EINVAL);
    assert.equal(await errno([Verb.Adopt, "a5"]), EINVAL);
    assert.equal(await errno([Verb.Kill, "a6"]), EINVAL);
    assert.equal(await errno([Verb.Exits, "a7"]), 0);
    assert.equal(await errno([Verb.Ping, "a8"]), 0);
    assert.equal(await errno([Verb.Shutdown, "a9", "extra"]), ENOSYS, "shutdown takes no arguments");
    assert.equal(await errno([Verb.Restored, "a12", "0", "0", "", ""]), EPERM, "restored: a guest's pid 1 only");
    assert.equal(await errno([Verb.Mkfifo, "a13", "relative"]), EINVAL, "mkfifo: an absolute path only");
    assert.equal(await errno([Verb.Mkfifo, "a14"]), ENOSYS, "mkfifo takes its path");
    assert.equal(await errno([Verb.Mount, "a15", "none", "relative", "tmpfs", "0", "", ""]), EINVAL, "mount: an absolute target only");
    assert.equal(await errno([Verb.Mount, "a16", "none", "/tmp", "tmpfs", "-1", "", ""]), EINVAL, "mount: flags are a non-negative number");
    assert.equal(await errno([Verb.Mount, "a17", "none", "/tmp", "tmpfs"]), ENOSYS, "mount takes all six fields");
    assert.equal(await errno([Verb.Mount, "a20", "none", "/tmp", "tmpfs", "0", "", "relative"]), EINVAL, "mount: an absolute cwd only");
    assert.equal(await errno([Verb.Umount, "a18", "relative"]), EINVAL, "umount: an absolute path only");
    assert.equal(await errno([Verb.Umount, "a19", dir]), EINVAL, "umount: not a mount point");
    // The guest setup verbs: a host holder sits in the host's or a pod's namespaces, and refuses them all.
    assert.equal(await errno([Verb.Access, "a21", "/bin/sh"]), EPERM, "access: a guest's pid 1 only");
    assert.equal(await errno([Verb.Hostname, "a22", "x"]), EPERM, "hostname: a guest's pid 1 only");
    assert.equal(await errno([Verb.LinkUp, "a23", "lo", "1500"]), EPERM, "linkup: a guest's pid 1 only");
    assert.equal(await errno([Verb.AddrAdd, "a24", "lo", "192.0.2.1/24"]), EPERM, "addradd: a guest's pid 1 only");
    assert.equal(await errno([Verb.RouteAdd, "a25", "lo", "4", "default", "192.0.2.1", ""]), EPERM, "routeadd: a guest's pid 1 only");
    assert.equal(await errno([Verb.Sysctl, "a26", "net.ipv4.ip_forward", "1"]), EPERM, "sysctl: a guest's pid 1 only");
    assert.equal(await errno([Verb.RouteAdd, "a27", "lo", "4", "default"]), ENOSYS, "routeadd takes all five fields");
    assert.equal(await errno([Verb.FifoStart, "a28", "/run/runc/c/exec.fifo"]), EPERM, "fifostart: a guest's pid 1 only (on the host kuasard writes the fifo)");
    assert.equal(await errno([Verb.Member, "a29", "1"]), EINVAL, "member: a pid above 1");
    const ended = spawnSync("/bin/true").pid;
    assert.equal(await errno([Verb.Member, "a30", String(ended)]), ESRCH, "member: a live process only");
    assert.equal(await errno([Verb.Member, "a31"]), ENOSYS, "member takes its pid");
    assert.equal(await errno(["SPAWN", "a10"]), ENOSYS);
    assert.equal(await errno(["eof", "a11"]), ENOSYS, "an event name is not a request");
    const covered = new Set([Verb.Spawn, Verb.Write, Verb.CloseStdin, Verb.Resize, Verb.Adopt, Verb.Kill, Verb.Exits, Verb.Ping, Verb.Shutdown, Verb.Restored, Verb.Mkfifo, Verb.Mount, Verb.Umount, Verb.Access, Verb.Hostname, Verb.LinkUp, Verb.AddrAdd, Verb.RouteAdd, Verb.Sysctl, Verb.FifoStart, Verb.Member]);
    assert.deepEqual(new Set(Object.values(Verb)), covered, "a new verb needs its line above");

    // A request split into single bytes is answered like any other.
    for (const b of encodeMessage([Verb.Ping, "split"])) raw.sock.write(Buffer.from([b]));
    assert.equal((await raw.next((m) => m[1] === "split"))[0], Reply.Ok);

    // Streamed output and the exit arrive under the event names, with the unsolicited request id.
    const spawned = await raw.ask([Verb.Spawn, "ev", "", "", STREAM, "", "", "3", "/bin/sh", "-c", "printf hi; exit 5", "0"]);
    assert.equal(spawned[0], Reply.Ok);
    const exit = await raw.next((m) => m[0] === Event.Exit && m[6] === "ev");
    assert.deepEqual([exit[1], exit[2], exit[3]], [UNSOLICITED_RID, spawned[2], "5"]);
    const stream = raw.heard.filter((m) => (m[0] === Event.Out || m[0] === Event.Eof) && m[2] === "ev");
    assert.deepEqual(stream, [
      [Event.Out, UNSOLICITED_RID, "ev", "1", Buffer.from("hi").toString("base64")],
      [Event.Eof, UNSOLICITED_RID, "ev", "1"],
    ]);
  });
});
