import assert from "node:assert/strict";
import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Code } from "../../src/errors/code.js";
import { RuntimeError } from "../../src/errors/runtime-error.js";
import { MS, type MountCall } from "../../src/fs/mount-calls.js";
import { unescapeMountPath } from "../../src/fs/mountinfo.js";
import { mountsBelow, unmountBelow } from "../../src/fs/mounts.js";
import { HolderClient } from "../../src/holder/holder-client.js";
import { encodeMessage, MAX_REQUEST_LENGTH, MessageDecoder, parseMessage, Verb } from "../../src/holder/holder-protocol.js";
import { startHolder } from "../../src/holder/start-holder.js";
import { ISOLATION_ENV } from "../../testing/isolation.js";
import { eventually, footprint, fuzzSeed, inParallel, oneShot, Prng } from "./fuzz-kit.js";

const CONNECTION_INPUTS = 4000;
const MESSAGE_INPUTS = 36_000;
const MOUNT_INPUTS = 4000;
const MOUNT_CUT_INPUTS = 400;
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
 * A malformed request for one verb. Never `shutdown` (it would end the holder), no
 * decimal pid for `kill` or `adopt` (a real pid could be signalled), and no `mkfifo`,
 * `mount` or `umount` (random paths could be acted on: their fuzz below keeps every path
 * in a scratch dir): every request is meant to be refused, the point is that refusing
 * costs nothing. The guest-only verbs (`access` ... `sysctl`, `fifostart`) only in the runner's
 * private network and UTS namespaces: a host holder refuses them all (EPERM) before any
 * system call, and if it ever did not, the damage stays there.
 */
function badRequest(r: Prng): Buffer {
  const guest = process.env[ISOLATION_ENV] === "1" ? [Verb.Access, Verb.Hostname, Verb.LinkUp, Verb.AddrAdd, Verb.RouteAdd, Verb.Sysctl, Verb.FifoStart] : [];
  const verbs = [Verb.Spawn, Verb.Write, Verb.CloseStdin, Verb.Resize, Verb.Adopt, Verb.Kill, Verb.Exits, Verb.Ping, ...guest, "nope", ""];
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

/** Sends `requests` pipelined on one connection; resolves to the reply payloads read, in order. */
function exchange(path: string, requests: readonly Buffer[]): Promise<Buffer[]> {
  return new Promise((resolve) => {
    const s = connect(path);
    const decoder = new MessageDecoder();
    const replies: Buffer[] = [];
    const timer = setTimeout(() => s.destroy(), 20_000);
    s.on("error", () => {});
    s.on("data", (d: Buffer) => {
      try {
        replies.push(...decoder.push(d));
      } catch {
        s.destroy();
      }
      if (replies.length >= requests.length) s.end();
    });
    s.once("close", () => {
      clearTimeout(timer);
      resolve(replies);
    });
    s.once("connect", () => s.write(Buffer.concat(requests)));
  });
}

/** Sends `count` malformed requests pipelined on one connection; resolves to the replies read. */
async function pipelined(path: string, r: Prng, count: number): Promise<number> {
  return (await exchange(path, Array.from({ length: count }, () => badRequest(r)))).length;
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
    const hostBefore = hostname();

    // 48 at once, past the holder's 32 clients: it makes room by dropping silent ones, never kuasard's.
    await inParallel(CONNECTION_INPUTS, 48, () => oneShot(sock, connectionInput(r), { graceMs: 300 }));
    let replies = 0;
    const perConnection = 500;
    await inParallel(MESSAGE_INPUTS / perConnection, 4, async () => {
      const got = await pipelined(sock, r, perConnection);
      replies += got; // not `replies += await`: that would read replies before the await
    });
    assert.equal(replies, MESSAGE_INPUTS, "the holder answered every malformed request");
    assert.equal(hostname(), hostBefore, "no `hostname` request was acted on (a host holder refuses the guest setup verbs)");

    assert.equal((await kuasard.ping({ timeoutMs: 5000 })).pid, holder.pid, "kuasard's connection still works");
    assert.equal(kuasardLost, false, "kuasard's connection was never dropped");
    const settled = await eventually(() => footprint(holder.pid).fds <= before.fds + FD_SLACK, 10_000);
    const after = footprint(holder.pid);
    process.stderr.write(`fuzz holder: fds ${before.fds} -> ${after.fds}, RSS ${before.rssKiB} -> ${after.rssKiB} KiB\n`);
    assert.ok(settled, `fds back within ${FD_SLACK} of ${before.fds}: ${after.fds}`);
    assert.ok(after.rssKiB - before.rssKiB < RSS_SLACK_KIB, `RSS grew ${after.rssKiB - before.rssKiB} KiB (bound ${RSS_SLACK_KIB})`);
  });
});

/** Mount fuzzing needs root, and runs only in the runner's private mount namespace: a stray mount never reaches the host's. */
const mountSkip = process.getuid?.() === 0 && process.env[ISOLATION_ENV] === "1" ? false : "needs root in the runner's private mount namespace (node dist/test/run.js fuzz/holder-socket)";

const EINVAL = 22;
const ENOSYS = 38;

/** Every mount of /proc/self/mountinfo, stacked ones each (paths decoded). */
function mounts(): { point: string; fstype: string }[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const f = l.split(" ");
      return { point: unescapeMountPath(f[4]!), fstype: f[f.indexOf("-") + 1]! };
    });
}

const isUnder = (dir: string, p: string): boolean => p === dir || p.startsWith(`${dir}/`);

/**
 * The flag bits a well-formed fuzz mount may carry: no MS_MOVE, no MS_REC (a recursive bind of
 * binds doubles the mounts), no propagation change. A remount without MS_BIND changes a
 * superblock: any mount root under the scratch is one of the test's tmpfs mounts.
 */
const SAFE_FLAGS = MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.SILENT | MS.BIND | MS.REMOUNT;
const FLAG_SETS = [0, MS.RDONLY, MS.NOSUID | MS.NODEV | MS.NOEXEC, MS.SILENT, MS.BIND, MS.BIND | MS.RDONLY, MS.REMOUNT | MS.BIND, MS.REMOUNT | MS.BIND | MS.RDONLY, MS.REMOUNT, MS.REMOUNT | MS.RDONLY];

/** The holder's parse_num for FLAGS (util.c): what it accepts reaches mount(2). */
function flagsParse(s: string): number | undefined {
  if (!/^-?[0-9]{1,18}$/.test(s)) return undefined;
  const v = Number(s);
  return v >= 0 && v <= 0xffffffff ? v : undefined;
}

/** A path component: no `/` and no `.` (so never `.` or `..`), and letters that spell no filesystem type. */
function component(r: Prng, min = 0): string {
  const alphabet = "abcXYZ:-_= +%\u00e9\u4e2d";
  const n = r.chance(0.01) ? 300 : min + r.int(6); // 300: past NAME_MAX
  let s = "";
  for (let i = 0; i < n; i++) s += alphabet[r.int(alphabet.length)];
  return s;
}

/**
 * Where the mount fuzz may act: `base` (a private tmpfs) and paths below it. Every path the
 * fuzz sends is `base/NAME[/NAME...]` with no empty, `.` or `..` component, so it is never
 * `base` itself nor out of it, and nothing in it leads out: the tmpfs holds only what the
 * test and the fuzz made (directories, a file, FIFOs, tmpfs mounts, binds of its own paths).
 */
class Scratch {
  static readonly DIRS = ["m0", "m1", "m2", "m3", "m0/x", "m1/x"];
  constructor(readonly base: string) {}

  /** True for a path strictly below `base` that names no `.` or `..`. */
  holds(p: string): boolean {
    if (!p.startsWith(`${this.base}/`)) return false;
    return p.slice(this.base.length + 1).split("/").every((c) => c !== "" && c !== "." && c !== "..");
  }

  /** A path below `base`: a fixed name, sometimes with a junk suffix or junk below it. */
  path(r: Prng): string {
    // Mostly the directories (so mounts happen), else what is not one or not there.
    let p = `${this.base}/${r.chance(0.7) ? r.pick(["m0", "m1", "m2", "m3"]) : r.pick(["f0", "fifo", "nope"])}`;
    if (r.chance(0.15)) p += component(r);
    for (let i = 0, n = r.chance(0.7) ? 0 : 1 + r.int(2); i < n; i++) p += `/${r.chance(0.7) ? r.pick(["x", "m0", "fifo"]) : component(r, 1)}`;
    if (r.chance(0.005)) p += `/${"m0/".repeat(1100)}x`; // past PATH_MAX
    return p;
  }

  /** Not absolute: refused before any system call. */
  relative(r: Prng): string {
    return r.chance(0.2) ? "" : `${r.pick(["m0", "tmp", "x"])}${component(r)}`;
  }
}

/** One mount-verb request and, when it is refused before any system call, the errno it must get. */
interface MountVerbInput {
  readonly fields: readonly string[];
  readonly refused?: number;
}

function wellFormedMount(r: Prng, s: Scratch): string[] {
  const flags = r.pick(FLAG_SETS);
  // A bind's source is a path the kernel resolves: only a scratch one.
  const source = flags & MS.BIND ? s.path(r) : r.pick(["", "tmpfs", "kuasar-fuzz", component(r)]);
  // Types the kernel does not know are rare: it may run modprobe for each.
  const fstype = r.chance(0.9) ? r.pick(["tmpfs", "tmpfs", "none", ""]) : component(r, 1);
  const data = r.pick(["", "", "size=1m", "mode=0700", "size=1m,mode=0755,nr_inodes=64", `size=${component(r)}`, component(r), "s".repeat(5000)]);
  const cwd = r.chance(0.7) ? "" : s.path(r);
  return [source, s.path(r), fstype, String(flags), data, cwd];
}

function mountVerbInput(r: Prng, s: Scratch, rid: string): MountVerbInput {
  const roll = r.int(100);
  if (roll < 12) return { fields: [Verb.Mkfifo, rid, s.path(r)] };
  if (roll < 15) return { fields: [Verb.Mkfifo, rid, s.relative(r)], refused: EINVAL };
  if (roll < 35) return { fields: [Verb.Umount, rid, s.path(r)] };
  if (roll < 38) return { fields: [Verb.Umount, rid, s.relative(r)], refused: EINVAL };
  if (roll < 48) {
    // The wrong number of strings, for any of the three: refused by the dispatcher.
    const verb = r.pick([Verb.Mkfifo, Verb.Mount, Verb.Umount]);
    const want = verb === Verb.Mount ? 8 : 3;
    const all = [verb, rid, ...wellFormedMount(r, s), s.path(r), s.path(r)];
    let n = 2 + r.int(all.length - 1);
    if (n === want) n++;
    return { fields: all.slice(0, n), refused: ENOSYS };
  }
  const [source, target, fstype, flags, data, cwd] = wellFormedMount(r, s) as [string, string, string, string, string, string];
  if (roll < 56) {
    // FLAGS the holder cannot parse: refused whatever the rest says.
    let bad = r.pick(["", "-1", "4294967296", "0x1000", "1e3", " 0", "0 ", "+1", "4096,", "ro", "9".repeat(19), "-", field(r)]);
    if (flagsParse(bad) !== undefined) bad = `x${bad}`;
    return { fields: [Verb.Mount, rid, source, r.chance(0.5) ? target : s.relative(r), fstype, bad, data, cwd], refused: EINVAL };
  }
  if (roll < 60) return { fields: [Verb.Mount, rid, source, s.relative(r), fstype, flags, data, cwd], refused: EINVAL };
  if (roll < 63) return { fields: [Verb.Mount, rid, source, target, fstype, flags, data, `${r.pick(["m0", "x"])}${component(r)}`], refused: EINVAL };
  return { fields: [Verb.Mount, rid, source, target, fstype, flags, data, cwd] };
}

/**
 * The fuzz's own promise, checked on every request before it is sent: a request the holder
 * would act on names only scratch paths, a bind only a scratch source, and only safe flags.
 */
function assertConfined(fields: readonly string[], s: Scratch): void {
  const acted = (p: string | undefined): boolean => p !== undefined && p.startsWith("/"); // else EINVAL first
  const ok = (p: string | undefined): boolean => !acted(p) || s.holds(p!);
  const [verb, , a, b, , flagText, , cwd] = fields;
  let safe = true;
  if ((verb === Verb.Mkfifo || verb === Verb.Umount) && fields.length === 3) safe = ok(a);
  if (verb === Verb.Mount && fields.length === 8) {
    const flags = flagsParse(flagText!);
    if (flags !== undefined && acted(b) && (cwd === "" || acted(cwd)))
      safe = s.holds(b!) && (cwd === "" || s.holds(cwd!)) && (flags & ~SAFE_FLAGS) === 0 && (!(flags & MS.BIND) || s.holds(a!));
  }
  assert.ok(safe, `unconfined fuzz request: ${JSON.stringify(fields.map((f) => (f.length > 80 ? `${f.slice(0, 80)}...` : f)))}`);
}

/** A holder in a fresh dir under /tmp and kuasard's connection to it; all shut down and unmounted after the test. */
async function mountHolder(t: TestContext): Promise<{ root: string; pid: number; client: HolderClient }> {
  const root = await mkdtemp("/tmp/khm-");
  const hdir = join(root, "holder");
  mkdirSync(hdir);
  const { pid } = await startHolder(hdir, { logFile: join(hdir, "holder.log") });
  const client = await HolderClient.connect(hdir, { timeoutMs: 5000 });
  t.after(async () => {
    await client.shutdown({ timeoutMs: 10_000 }).catch(() => process.kill(pid, "SIGKILL"));
    client.destroy();
    await eventually(() => !isAlive(pid), 10_000);
    await unmountBelow(root).catch(() => {});
    // Never a recursive rm into something still mounted.
    if (mountsBelow(root).length === 0) await rm(root, { recursive: true, force: true });
  });
  return { root, pid, client };
}

/** Unmounts, by the holder's umount, everything at or below `dir`, top (and deepest) first, in rounds: a mount can hide another. */
async function unmountAllBy(client: HolderClient, dir: string): Promise<void> {
  for (let round = 0; round < 64; round++) {
    const points = mounts()
      .map((m) => m.point)
      .filter((p) => isUnder(dir, p))
      .reverse() // mountinfo lists a mount after the one it is on
      .sort((x, y) => y.split("/").length - x.split("/").length);
    if (points.length === 0) return;
    for (const p of points) await client.umount(p).catch(() => {});
  }
}

const tmpfsOn = (target: string): MountCall => ({ source: "kuasar-test", target, fstype: "tmpfs", flags: MS.NOSUID | MS.NODEV, data: "size=1m,mode=0700", cwd: "" });

describe("fuzz: the pod holder's mkfifo, mount and umount", { timeout: 120_000, skip: mountSkip }, () => {
  it(`takes ${MOUNT_INPUTS + MOUNT_CUT_INPUTS} requests confined to a scratch tmpfs, leaving no mount, fd or cwd change behind`, async (t) => {
    const seed = fuzzSeed("holder mounts");
    const r = new Prng(seed);
    const { root, pid, client } = await mountHolder(t);
    let kuasardLost = false;
    client.on("close", () => (kuasardLost = true));
    const outside = (): string[] => mounts().filter((m) => !isUnder(root, m.point)).map((m) => `${m.point} ${m.fstype}`);
    const outsideBefore = outside();

    // The scratch: a tmpfs of its own, private, so nothing mounted in it propagates anywhere.
    const s = new Scratch(join(root, "scratch"));
    mkdirSync(s.base);
    await client.mount({ source: "kuasar-fuzz", target: s.base, fstype: "tmpfs", flags: 0, data: "size=16m,mode=0755", cwd: "" });
    await client.mount({ source: "", target: s.base, fstype: "", flags: MS.PRIVATE, data: "", cwd: "" });
    for (const d of Scratch.DIRS) mkdirSync(join(s.base, d));
    writeFileSync(join(s.base, "f0"), "");
    await client.mkfifo(join(s.base, "fifo"));
    const before = footprint(pid);
    const cwdBefore = readlinkSync(`/proc/${pid}/cwd`);
    const sock = join(root, "holder", "holder.sock");

    const inputs = Array.from({ length: MOUNT_INPUTS }, (_, i) => mountVerbInput(r, s, `m${i}`));
    for (const input of inputs) assertConfined(input.fields, s);
    const replies: Buffer[][] = [];
    const perConnection = 500;
    await inParallel(MOUNT_INPUTS / perConnection, 4, async (i) => {
      replies[i] = await exchange(sock, inputs.slice(i * perConnection, (i + 1) * perConnection).map((x) => encodeMessage(x.fields)));
    });
    // Cut short: the holder never has the whole request, so it acts on none of them.
    await inParallel(MOUNT_CUT_INPUTS, 16, async () => {
      const input = mountVerbInput(r, s, "cut");
      assertConfined(input.fields, s);
      const m = encodeMessage(input.fields);
      await oneShot(sock, m.subarray(0, r.int(m.length)), { graceMs: 300 });
    });

    const done = new Map<string, number>();
    for (const [i, input] of inputs.entries()) {
      const reply = parseMessage(replies[Math.floor(i / perConnection)]![i % perConnection] ?? assert.fail(`no reply to request ${i}`));
      assert.ok(reply.kind === "ok" || reply.kind === "err", `request ${i}: ${reply.kind}`);
      assert.equal(reply.id, input.fields[1], "replies come in request order");
      if (input.refused !== undefined) assert.deepEqual([reply.kind, reply.kind === "err" ? reply.errno : 0], ["err", input.refused], `refused before any system call: ${JSON.stringify(input.fields.slice(0, 3))}`);
      if (reply.kind === "ok") done.set(input.fields[0]!, (done.get(input.fields[0]!) ?? 0) + 1);
    }
    const left = mounts().filter((m) => isUnder(root, m.point));
    process.stderr.write(`fuzz holder mounts: done ${JSON.stringify(Object.fromEntries(done))}, ${left.length} mounts left in the scratch\n`);
    // The fuzz reached the kernel: some of each verb did something.
    for (const verb of [Verb.Mkfifo, Verb.Mount, Verb.Umount]) assert.ok((done.get(verb) ?? 0) > 0, `no ${verb} succeeded`);
    assert.deepEqual(left.filter((m) => !isUnder(s.base, m.point) || m.fstype !== "tmpfs"), [], "every mount made is a tmpfs (or a bind of one) in the scratch");
    assert.deepEqual(outside(), outsideBefore, "no mount appeared or went outside the scratch");

    assert.equal((await client.ping({ timeoutMs: 5000 })).pid, pid, "kuasard's connection still works");
    assert.equal(kuasardLost, false, "kuasard's connection was never dropped");
    assert.equal(readlinkSync(`/proc/${pid}/cwd`), cwdBefore, "every mount with a CWD went back to where it was");
    const settled = await eventually(() => footprint(pid).fds <= before.fds + FD_SLACK, 10_000);
    const after = footprint(pid);
    process.stderr.write(`fuzz holder mounts: fds ${before.fds} -> ${after.fds}, RSS ${before.rssKiB} -> ${after.rssKiB} KiB\n`);
    assert.ok(settled, `fds back within ${FD_SLACK} of ${before.fds}: ${after.fds}`);
    assert.ok(after.rssKiB - before.rssKiB < RSS_SLACK_KIB, `RSS grew ${after.rssKiB - before.rssKiB} KiB (bound ${RSS_SLACK_KIB})`);

    // What the fuzz mounted, and the scratch tmpfs, undone by the holder itself.
    await unmountAllBy(client, s.base);
    assert.deepEqual(mountsBelow(root), [], "nothing left mounted in the scratch");
    assert.deepEqual(outside(), outsideBefore, "the mounts outside the scratch are as they were");
  });

  it("mounts a tmpfs on a scratch dir and unmounts it, leaving no mount", async (t) => {
    const { root, client } = await mountHolder(t);
    const target = join(root, "t");
    mkdirSync(target);
    await client.mount(tmpfsOn(target));
    assert.deepEqual(
      mounts().filter((m) => isUnder(root, m.point)),
      [{ point: target, fstype: "tmpfs" }],
    );
    writeFileSync(join(target, "a"), "x");
    await client.umount(target);
    assert.deepEqual(mountsBelow(root), []);
    // Not a mount point any more: EINVAL.
    await assert.rejects(client.umount(target), (e: unknown) => e instanceof RuntimeError && e.code === Code.InvalidArgument);
  });

  it("a mount on a target that does not exist is NotFound naming it, and the holder goes on serving", async (t) => {
    const { root, pid, client } = await mountHolder(t);
    const target = join(root, "no", "such", "dir");
    const err = await client.mount(tmpfsOn(target)).then(
      () => assert.fail("mounted"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof RuntimeError);
    assert.equal(err.code, Code.NotFound);
    assert.match(err.message, /ENOENT/);
    assert.ok(err.message.includes(target), err.message);
    assert.deepEqual(mountsBelow(root), []);
    assert.equal((await client.ping()).pid, pid);
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
