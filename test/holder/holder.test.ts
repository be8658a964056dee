import assert from "node:assert/strict";
import { execFile, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { closeSync, constants as fsConstants, existsSync, openSync, readFileSync, readlinkSync, statSync, writeSync } from "node:fs";
import { chmod, mkdir, mkdtemp, open, readFile, rm, symlink, copyFile, writeFile } from "node:fs/promises";
import { connect, Socket } from "node:net";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { promisify } from "node:util";
import { parseProcCgroup } from "../../src/cgroup/cgroup-stats.js";
import { listProcesses } from "../../testing/process-table.js";
import { refusingCgroup2Dir, testCgroup } from "../../testing/test-cgroup.js";
import { Code } from "../../src/errors/code.js";
import { isErrorCode } from "../../src/errors/runtime-error.js";
import { HolderClient } from "../../src/holder/holder-client.js";
import { decodeFields, encodeMessage, type HolderExit, MessageDecoder, PODINIT_ID } from "../../src/holder/holder-protocol.js";
import { defaultHolderBinary, type HolderProcess, POD_INIT_COMM, startHolder, type StartHolderOptions } from "../../src/holder/start-holder.js";

const execFileP = promisify(execFile);
const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const WAIT_MS = 15_000;

/** Exit events, kept from the moment of connecting so none is missed between spawn and wait. */
class ExitLog {
  readonly events: HolderExit[] = [];
  private waiters: { pred: (e: HolderExit) => boolean; resolve: (e: HolderExit) => void }[] = [];

  constructor(client: HolderClient) {
    client.on("exit", (e) => {
      this.events.push(e);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(e)) return true;
        w.resolve(e);
        return false;
      });
    });
  }

  wait(pred: (e: HolderExit) => boolean, what: string): Promise<HolderExit> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no exit event for ${what} within ${WAIT_MS} ms`)), WAIT_MS);
      this.waiters.push({
        pred,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  forPid(pid: number): Promise<HolderExit> {
    return this.wait((e) => e.pid === pid, `pid ${pid}`);
  }
}

interface TestHolder extends HolderProcess {
  readonly dir: string;
  readonly client: HolderClient;
  readonly exits: ExitLog;
}

/** State letter of /proc/<pid>/stat, undefined when gone. A zombie counts as gone. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2)[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Live processes whose command line names `dir` (a holder started for it, or its starter). */
async function holdersOf(dir: string): Promise<number[]> {
  return (await listProcesses()).filter((p) => p.cmdline.includes(dir) && alive(p.pid)).map((p) => p.pid);
}

/**
 * A test cgroup's v2 dir, and a holder dir with a FIFO to pass as --netns: a holder blocks
 * opening it, after its fork into the v2 dir and before ready. Undefined without cgroup v2.
 */
async function blockedStart(t: TestContext, prefix: string): Promise<{ v2dir: string; dir: string; fifo: string } | undefined> {
  const cg = testCgroup(t, prefix);
  if (!cg?.cgroup2) return undefined;
  const dir = await tempDir(t);
  const fifo = join(dir, "netns-fifo");
  mkfifo(fifo);
  return { v2dir: join(cg.cgroup2.mount, cg.path), dir, fifo };
}

/** The holder its starter forked for `dir`: the process naming `dir` whose parent does too. */
async function forkedHolder(dir: string): Promise<number> {
  for (const until = Date.now() + WAIT_MS; ; await new Promise((r) => setTimeout(r, 20))) {
    const procs = (await listProcesses()).filter((p) => p.cmdline.includes(dir));
    const holder = procs.find((p) => procs.some((q) => q.pid === p.ppid))?.pid;
    if (holder !== undefined) return holder;
    if (Date.now() > until) assert.fail(`no holder forked for ${dir}`);
  }
}

/** Waits until no process runs as the holder of `dir`. */
async function noHolderOf(dir: string): Promise<void> {
  for (const until = Date.now() + WAIT_MS; (await holdersOf(dir)).length > 0; await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > until) assert.fail(`processes left running as the holder of ${dir}: ${(await holdersOf(dir)).join(", ")}`);
  }
}

function ppidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

async function waitFor(pred: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const cleanups = new WeakMap<TestContext, (() => unknown)[]>();

/** Registers cleanup for after the test, run last-in first-out (t.after hooks run in order). */
function defer(t: TestContext, fn: () => unknown): void {
  let stack = cleanups.get(t);
  if (stack === undefined) {
    const fns: (() => unknown)[] = [];
    cleanups.set(t, (stack = fns));
    t.after(async () => {
      for (const f of fns.reverse()) await f();
    });
  }
  stack.push(fn);
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp("/tmp/kh-");
  defer(t, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

function mkfifo(path: string): void {
  const r = spawnSync("mkfifo", [path]);
  assert.equal(r.status, 0, `mkfifo ${path}: ${r.stderr}`);
}

/** Shuts the holder down (killing what it runs); SIGKILLs it if that fails. Only for holders we started. */
async function stopHolder(dir: string, pid: number): Promise<void> {
  if (alive(pid)) {
    try {
      const c = await HolderClient.connect(dir, { timeoutMs: 3000 });
      await c.shutdown({ timeoutMs: 15_000 }).catch(() => undefined);
      c.destroy();
    } catch {
      // fall through to SIGKILL
    }
  }
  await waitFor(() => !alive(pid), `holder ${pid} to exit`).catch(() => process.kill(pid, "SIGKILL"));
}

async function startTestHolder(t: TestContext, options: Partial<StartHolderOptions> = {}): Promise<TestHolder> {
  const dir = await tempDir(t);
  const h = await startHolder(dir, { logFile: join(dir, "holder.log"), ...options });
  defer(t, () => stopHolder(dir, h.pid));
  const client = await HolderClient.connect(dir);
  defer(t, () => client.destroy());
  return { ...h, dir, client, exits: new ExitLog(client) };
}

function readAll(sock: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = "";
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => (s += d));
    sock.on("error", reject);
    sock.on("end", () => resolve(s));
  });
}

function journalLines(dir: string): string[] {
  return readFileSync(join(dir, "exits"), "utf8").split("\n").filter((l) => l !== "");
}

describe("pod holder", () => {
  it("is built", () => {
    assert.ok(existsSync(defaultHolderBinary), `${defaultHolderBinary} missing: run npm run build`);
  });

  it("runs a process with stdout/stderr to files, reports status 42 and journals it first", async (t) => {
    const h = await startTestHolder(t);
    assert.match(readFileSync(join(h.dir, "holder.pid"), "utf8"), new RegExp(`^${h.pid} 0\n$`));
    assert.equal(statSync(join(h.dir, "holder.sock")).mode & 0o777, 0o600);
    const out = join(h.dir, "out.txt");
    const err = join(h.dir, "err.txt");
    const pid = await h.client.spawn({
      id: "t1",
      argv: ["/bin/sh", "-c", "echo out; echo err >&2; echo $FOO; exit 42"],
      env: [PATH_ENV, "FOO=bar"],
      stdout: out,
      stderr: err,
    });
    const exit = await h.exits.forPid(pid);
    assert.equal(exit.status, 42);
    assert.equal(exit.id, "t1");
    assert.ok(Math.abs(exit.exitedAt.getTime() - Date.now()) < 10_000);
    assert.equal(readFileSync(out, "utf8"), "out\nbar\n");
    assert.equal(readFileSync(err, "utf8"), "err\n");
    // Journaled (fsync'ed) before the event was sent.
    const line = journalLines(h.dir).find((l) => l.startsWith(`${pid} `));
    assert.match(line ?? "", new RegExp(`^${pid} 42 ${exit.seconds} ${exit.nanos} t1$`));
    const journal = await h.client.exits();
    assert.deepEqual(
      journal.filter((e) => e.pid === pid).map((e) => [e.status, e.id, e.seconds, e.nanos]),
      [[42, "t1", exit.seconds, exit.nanos]],
    );
    const [, , , session] = readFileSync(`/proc/${h.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    assert.equal(Number(session), h.pid, "the holder leads its own session");
  });

  it("reports 128+signal for a killed process, and kills only processes of the pod", async (t) => {
    const h = await startTestHolder(t);
    const pid = await h.client.spawn({ id: "k1", argv: ["/bin/sleep", "100"], env: [] });
    assert.equal(ppidOf(pid), h.pid);
    await h.client.kill(pid, "SIGKILL");
    const exit = await h.exits.forPid(pid);
    assert.equal(exit.status, 137);
    assert.equal(exit.id, "k1");
    for (const other of [process.pid, 1, pid]) {
      await assert.rejects(h.client.kill(other, 0), (e: unknown) => isErrorCode(e, Code.NotFound), `kill ${other}`);
    }
    await assert.rejects(h.client.kill(-1, "SIGKILL"), (e: unknown) => isErrorCode(e, Code.InvalidArgument));
  });

  it("takes a process made elsewhere that joined its namespaces as a member: kill reaches it and its descendants, shutdown ends it", async (t) => {
    const h = await startTestHolder(t, { newIpc: true, newUts: true, hostname: "pod-m" });
    // Joined by nsenter (which execs sh): the test's child, not the holder's descendant.
    const pidFile = join(h.dir, "child.pid");
    const joined = spawn("/usr/bin/nsenter", ["--target", String(h.pid), "--net", "--ipc", "--uts", "--", "/bin/sh", "-c", `sleep 100 & echo $! > ${pidFile}.tmp; mv ${pidFile}.tmp ${pidFile}; exec sleep 100`], { stdio: "ignore" });
    defer(t, () => joined.kill("SIGKILL"));
    await waitFor(() => existsSync(pidFile), "the member's child");
    const member = joined.pid!;
    const child = Number(readFileSync(pidFile, "utf8"));
    await assert.rejects(h.client.kill(child, 0), (e: unknown) => isErrorCode(e, Code.NotFound), "not the pod's before it joins");
    const outsider = spawn("/bin/sleep", ["100"], { stdio: "ignore" });
    defer(t, () => outsider.kill("SIGKILL"));
    await assert.rejects(h.client.member(outsider.pid!), (e: unknown) => isErrorCode(e, Code.PermissionDenied), "a process outside the pod's namespaces");
    await assert.rejects(h.client.member(1), (e: unknown) => isErrorCode(e, Code.InvalidArgument));
    await h.client.member(member);
    await h.client.member(member); // again: still one
    await h.client.kill(child, "SIGKILL");
    await waitFor(() => !alive(child), "the member's child killed through the holder");
    const closed = once(h.client, "close");
    process.kill(h.pid, "SIGTERM");
    await closed;
    await waitFor(() => !alive(h.pid), "holder exit");
    await waitFor(() => joined.exitCode !== null || joined.signalCode !== null, "the member ended with the holder");
    assert.equal(joined.signalCode, "SIGKILL");
  });

  it("forgets a member that ended: its pid is nobody's then", async (t) => {
    const h = await startTestHolder(t);
    const m = spawn("/usr/bin/nsenter", ["--target", String(h.pid), "--net", "--ipc", "--uts", "--", "/bin/sleep", "100"], { stdio: "ignore" });
    await waitFor(() => readlinkSync(`/proc/${m.pid}/exe`).endsWith("sleep"), "nsenter to exec sleep");
    await h.client.member(m.pid!);
    await h.client.kill(m.pid!, 0);
    m.kill("SIGKILL");
    await once(m, "exit");
    // Refused as not the pod's (the member is forgotten), not tried and found gone.
    await assert.rejects(h.client.kill(m.pid!, 0), (e: unknown) => isErrorCode(e, Code.NotFound) && /is not a process of this pod/.test((e as Error).message));
    await assert.rejects(h.client.member(m.pid!), (e: unknown) => isErrorCode(e, Code.NotFound));
  });

  it("reports spawn failures with the child's errno and reaps the failed child unjournaled", async (t) => {
    const h = await startTestHolder(t);
    await assert.rejects(
      h.client.spawn({ id: "e1", argv: ["/nonexistent/prog"], env: [] }),
      (e: unknown) => isErrorCode(e, Code.NotFound) && /exec \/nonexistent\/prog: No such file or directory/.test((e as Error).message),
    );
    await assert.rejects(
      h.client.spawn({ id: "e2", argv: ["/bin/true"], env: [], cwd: "/nonexistent" }),
      (e: unknown) => isErrorCode(e, Code.NotFound) && /chdir/.test((e as Error).message),
    );
    const fifo = join(h.dir, "noreader.fifo");
    mkfifo(fifo);
    await assert.rejects(
      h.client.spawn({ id: "e3", argv: ["/bin/true"], env: [], stdout: fifo }),
      (e: unknown) => /open stdout .*noreader\.fifo: No such device or address \(ENXIO\)/.test((e as Error).message),
    );
    await assert.rejects(h.client.spawn({ id: "e4", argv: ["true"], env: [] }), (e: unknown) => isErrorCode(e, Code.InvalidArgument));
    await assert.rejects(h.client.spawn({ id: "bad id", argv: ["/bin/true"], env: [] }), (e: unknown) => isErrorCode(e, Code.InvalidArgument));
    const pid = await h.client.spawn({ id: "dup", argv: ["/bin/sleep", "100"], env: [] });
    await assert.rejects(h.client.spawn({ id: "dup", argv: ["/bin/true"], env: [] }), (e: unknown) => isErrorCode(e, Code.AlreadyExists));
    await h.client.kill(pid, "SIGKILL");
    await h.exits.forPid(pid);
    // The key is free again once its process is gone.
    const again = await h.client.spawn({ id: "dup", argv: ["/bin/true"], env: [] });
    assert.equal((await h.exits.forPid(again)).status, 0);
    assert.deepEqual(
      journalLines(h.dir).map((l) => l.split(" ")[4]),
      ["dup", "dup"],
    );
  });

  it("reaps and journals an orphan reparented to it, and re-journals it under a late adopt", async (t) => {
    const h = await startTestHolder(t);
    const gate = join(h.dir, "gate.fifo");
    const pidFile = join(h.dir, "orphan.pid");
    mkfifo(gate);
    const sh = await h.client.spawn({
      id: "o1",
      argv: ["/bin/sh", "-c", `(read x < ${gate}; exit 7) & echo $! > ${pidFile}; exit 0`],
      env: [PATH_ENV],
    });
    assert.equal((await h.exits.forPid(sh)).status, 0);
    const orphan = Number(readFileSync(pidFile, "utf8"));
    assert.equal(ppidOf(orphan), h.pid, "the orphan is reparented to the subreaper holder");
    const w = await open(gate, "w");
    await w.write("go\n");
    await w.close();
    const exit = await h.exits.forPid(orphan);
    assert.equal(exit.status, 7);
    assert.equal(exit.id, undefined);
    assert.ok(journalLines(h.dir).includes(`${orphan} 7 ${exit.seconds} ${exit.nanos} -`));

    await h.client.adopt("late", orphan);
    const adopted = await h.exits.wait((e) => e.pid === orphan && e.id === "late", "late adopt");
    assert.equal(adopted.status, 7);
    assert.equal(adopted.seconds, exit.seconds);
    const entries = (await h.client.exits()).filter((e) => e.pid === orphan);
    assert.deepEqual(
      entries.map((e) => e.id),
      [undefined, "late"],
    );
  });

  it("reports an adopted descendant's exit under the adopting ID", async (t) => {
    const h = await startTestHolder(t);
    const gate = join(h.dir, "gate.fifo");
    const pidFile = join(h.dir, "init.pid");
    mkfifo(gate);
    const sh = await h.client.spawn({
      id: "runc-create",
      argv: ["/bin/sh", "-c", `(read x < ${gate}; exit 5) & echo $! > ${pidFile}; exit 0`],
      env: [PATH_ENV],
    });
    await h.exits.forPid(sh);
    const init = Number(readFileSync(pidFile, "utf8"));
    await h.client.adopt("c1", init);
    await assert.rejects(h.client.adopt("c2", init), (e: unknown) => isErrorCode(e, Code.AlreadyExists));
    await assert.rejects(h.client.adopt("c3", process.pid), (e: unknown) => isErrorCode(e, Code.NotFound));
    await h.client.kill(init, 0); // known now
    const w = await open(gate, "w");
    await w.write("go\n");
    await w.close();
    const exit = await h.exits.forPid(init);
    assert.equal(exit.status, 5);
    assert.equal(exit.id, "c1");
  });

  it("writes to a FIFO whose reader sees the data, then EOF when the process exits", async (t) => {
    const h = await startTestHolder(t);
    for (const [id, script, want] of [
      ["f1", "echo hello", "hello\n"],
      ["f2", "exit 0", ""],
    ] as const) {
      const fifo = join(h.dir, `${id}.fifo`);
      mkfifo(fifo);
      const fd = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
      const pid = await h.client.spawn({ id, argv: ["/bin/sh", "-c", script], env: [PATH_ENV], stdout: fifo, stderr: fifo });
      const text = await readAll(new Socket({ fd, readable: true, writable: false }));
      assert.equal(text, want);
      assert.equal((await h.exits.forPid(pid)).status, 0);
    }
  });

  it("pumps a stdin FIFO into a pipe: closestdin, or the writer closing, gives EOF", async (t) => {
    const h = await startTestHolder(t);
    for (const how of ["closestdin", "writer-close"] as const) {
      const fifo = join(h.dir, `${how}.fifo`);
      const out = join(h.dir, `${how}.out`);
      mkfifo(fifo);
      const pid = await h.client.spawn({ id: how, argv: ["/bin/cat"], env: [], stdin: fifo, stdout: out });
      const w = openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK); // the holder is the reader
      writeSync(w, "abc\n");
      await waitFor(() => existsSync(out) && readFileSync(out, "utf8") === "abc\n", `${how}: cat echoing`);
      writeSync(w, "tail\n");
      if (how === "closestdin") await h.client.closeStdin(how);
      closeSync(w);
      const exit = await h.exits.forPid(pid);
      assert.equal(exit.status, 0, `${how}: cat ended by EOF`);
      assert.equal(readFileSync(out, "utf8"), "abc\ntail\n");
    }
    await assert.rejects(h.client.closeStdin("nobody"), (e: unknown) => isErrorCode(e, Code.NotFound));
  });

  it("survives the death of the Node process that started it", async (t) => {
    const dir = await tempDir(t);
    const mod = new URL("../../src/holder/start-holder.js", import.meta.url).href;
    const script = `import { startHolder } from ${JSON.stringify(mod)};
      const h = await startHolder(${JSON.stringify(dir)});
      process.stdout.write(JSON.stringify(h));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: WAIT_MS });
    assert.equal(r.status, 0, r.stderr);
    const started = JSON.parse(r.stdout) as HolderProcess;
    defer(t, () => stopHolder(dir, started.pid));
    assert.ok(alive(started.pid));
    assert.notEqual(ppidOf(started.pid), r.pid);
    const client = await HolderClient.connect(dir);
    defer(t, () => client.destroy());
    assert.deepEqual(await client.ping(), { pid: started.pid, podInitPid: undefined });
    const exits = new ExitLog(client);
    const pid = await client.spawn({ id: "after", argv: ["/bin/true"], env: [] });
    assert.equal((await exits.forPid(pid)).status, 0);
  });

  it("on SIGTERM kills its children, journals them, tells its clients and exits", async (t) => {
    const h = await startTestHolder(t);
    const a = await h.client.spawn({ id: "s1", argv: ["/bin/sleep", "100"], env: [] });
    const bgFile = join(h.dir, "bg.pid");
    const b = await h.client.spawn({ id: "s2", argv: ["/bin/sh", "-c", `sleep 100 & echo $! > ${bgFile}.tmp; mv ${bgFile}.tmp ${bgFile}; sleep 100`], env: [PATH_ENV] });
    await waitFor(() => existsSync(bgFile), "the background sleep");
    const bg = Number(readFileSync(bgFile, "utf8"));
    const closed = once(h.client, "close");
    process.kill(h.pid, "SIGTERM");
    await closed;
    await waitFor(() => !alive(h.pid), "holder exit");
    const statuses = new Map(journalLines(h.dir).map((l) => [Number(l.split(" ")[0]), l.split(" ").slice(1)] as const));
    assert.equal(statuses.get(a)?.[0], "137");
    assert.equal(statuses.get(a)?.[3], "s1");
    assert.equal(statuses.get(b)?.[0], "137");
    assert.deepEqual(statuses.get(bg), ["137", statuses.get(bg)![1], statuses.get(bg)![2], "-"], "the orphaned background sleep is killed and journaled too");
    assert.deepEqual(new Set(h.exits.events.map((e) => e.pid)), new Set(statuses.keys()));
    assert.equal(existsSync(join(h.dir, "holder.sock")), false);
    assert.equal(existsSync(join(h.dir, "holder.pid")), false);
    await assert.rejects(h.client.ping(), (e: unknown) => isErrorCode(e, Code.Unavailable));
  });

  it("joins its --cgroup dirs in every hierarchy (v2 by starting there): its starter leaves once it is ready; a dir that refuses it fails the start and leaves no holder", async (t) => {
    const cg = testCgroup(t, "kh-test");
    if (!cg) return t.skip("no cgroup hierarchy is mounted here");
    const mine = (pid: number) => parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, "utf8")).map((m) => m.path);

    const h = await startTestHolder(t, { cgroups: cg.dirs, newPid: true });
    for (const pid of [h.pid, h.podInitPid!]) for (const p of mine(pid)) assert.equal(p, `/${cg.path}`, `pid ${pid} in ${p}`);
    const child = await h.client.spawn({ id: "c", argv: ["/bin/sleep", "100"], env: [] });
    for (const p of mine(child)) assert.equal(p, `/${cg.path}`, `its child in ${p}`);
    const { cgroup2 } = cg;
    if (!cgroup2) return;
    // Started into the v2 dir by a fork of the process the daemon ran: that one is gone (reaped), the holder's parent is a subreaper's.
    assert.ok(readFileSync(join(cgroup2.mount, cg.path, "cgroup.procs"), "utf8").split("\n").includes(String(h.pid)));
    assert.notEqual(ppidOf(h.pid), process.pid);

    const invalid = refusingCgroup2Dir({ ...cg, cgroup2 });
    const dir = await tempDir(t);
    await assert.rejects(startHolder(dir, { cgroups: [invalid] }), (e: unknown) => e instanceof Error && e.message.includes(`--cgroup: join ${invalid}`));
    assert.equal(existsSync(join(dir, "holder.pid")), false);
    await noHolderOf(dir);
  });

  it("started into a cgroup v2 dir, dies with the process the daemon ran when that one is killed before ready", async (t) => {
    const b = await blockedStart(t, "kh-kill");
    if (!b) return t.skip("no cgroup v2 hierarchy is mounted here");
    const starter = spawn(defaultHolderBinary, ["--dir", b.dir, "--cgroup", b.v2dir, "--netns", b.fifo], { stdio: ["ignore", "ignore", "ignore", "pipe"] });
    t.after(() => starter.kill("SIGKILL"));
    const holder = await forkedHolder(b.dir);
    t.after(() => (alive(holder) ? process.kill(holder, "SIGKILL") : undefined));
    assert.ok(readFileSync(join(b.v2dir, "cgroup.procs"), "utf8").split("\n").includes(String(holder)), "the fork is in the v2 dir");
    starter.kill("SIGKILL");
    await waitFor(() => !alive(holder), `holder ${holder} to die with its starter`);
    await noHolderOf(b.dir);
  });

  it("started into a cgroup v2 dir and killed before ready, its death is its starter's exit status", async (t) => {
    const b = await blockedStart(t, "kh-died");
    if (!b) return t.skip("no cgroup v2 hierarchy is mounted here");
    const started = startHolder(b.dir, { cgroups: [b.v2dir], netns: b.fifo });
    process.kill(await forkedHolder(b.dir), "SIGKILL");
    await assert.rejects(started, (e: unknown) => isErrorCode(e, Code.FailedPrecondition) && /exited \(exit status 137\) before ready/.test((e as Error).message));
    await noHolderOf(b.dir);
  });

  it("holds new IPC and UTS namespaces with the hostname set", async (t) => {
    const h = await startTestHolder(t, { newIpc: true, newUts: true, hostname: "pod1" });
    const out = join(h.dir, "hostname.out");
    const hn = await h.client.spawn({ id: "hn", argv: ["/bin/hostname"], env: [], stdout: out });
    assert.equal((await h.exits.forPid(hn)).status, 0);
    assert.equal(readFileSync(out, "utf8"), "pod1\n");
    const pid = await h.client.spawn({ id: "ns", argv: ["/bin/sleep", "100"], env: [] });
    for (const ns of ["uts", "ipc"]) {
      const theirs = readlinkSync(`/proc/${pid}/ns/${ns}`);
      assert.equal(theirs, readlinkSync(`/proc/${h.pid}/ns/${ns}`), ns);
      assert.notEqual(theirs, readlinkSync(`/proc/self/ns/${ns}`), ns);
    }
    assert.equal(readlinkSync(`/proc/${pid}/ns/net`), readlinkSync("/proc/self/ns/net"));
  });

  it("joins the network namespace given with --netns", async (t) => {
    const name = `kuasar-holder-test-${process.pid}-${randomBytes(3).toString("hex")}`;
    const add = spawnSync("ip", ["netns", "add", name], { encoding: "utf8" });
    if (add.status !== 0) return t.skip(`ip netns add: ${add.stderr.trim()}`);
    defer(t, () => spawnSync("ip", ["netns", "delete", name]));
    const nsPath = `/run/netns/${name}`;
    const h = await startTestHolder(t, { netns: nsPath });
    const pid = await h.client.spawn({ id: "net", argv: ["/bin/sleep", "100"], env: [] });
    const link = readlinkSync(`/proc/${pid}/ns/net`);
    assert.equal(link, `net:[${statSync(nsPath).ino}]`);
    assert.notEqual(link, readlinkSync("/proc/self/ns/net"));
    await assert.rejects(startHolder(await tempDir(t), { netns: "/nonexistent/netns" }), (e: unknown) =>
      /open --netns \/nonexistent\/netns: No such file or directory/.test((e as Error).message),
    );
  });

  it("sets --sysctl in the pod's own IPC and network namespaces, never the host's, and fails its start on a bad one", async (t) => {
    const name = `kuasar-holder-test-${process.pid}-${randomBytes(3).toString("hex")}`;
    const add = spawnSync("ip", ["netns", "add", name], { encoding: "utf8" });
    if (add.status !== 0) return t.skip(`ip netns add: ${add.stderr.trim()}`);
    defer(t, () => spawnSync("ip", ["netns", "delete", name]));
    const hostShm = readFileSync("/proc/sys/kernel/shm_rmid_forced", "utf8");
    const hostMsgMax = readFileSync("/proc/sys/fs/mqueue/msg_max", "utf8");
    const sysctls = { "kernel.shm_rmid_forced": hostShm.trim() === "1" ? "0" : "1", "fs/mqueue/msg_max": "100", "net.ipv4.ip_unprivileged_port_start": "0" };
    const h = await startTestHolder(t, { netns: `/run/netns/${name}`, newIpc: true, sysctls });
    const out = join(h.dir, "sysctl.out");
    const pid = await h.client.spawn({
      id: "read",
      argv: ["/bin/sh", "-c", "cat /proc/sys/kernel/shm_rmid_forced /proc/sys/fs/mqueue/msg_max /proc/sys/net/ipv4/ip_unprivileged_port_start"],
      env: [PATH_ENV],
      stdout: out,
    });
    assert.equal((await h.exits.forPid(pid)).status, 0);
    assert.equal(readFileSync(out, "utf8"), `${sysctls["kernel.shm_rmid_forced"]}\n100\n0\n`);
    assert.equal(readFileSync("/proc/sys/kernel/shm_rmid_forced", "utf8"), hostShm, "the host's IPC namespace is untouched");
    assert.equal(readFileSync("/proc/sys/fs/mqueue/msg_max", "utf8"), hostMsgMax);

    const refused = async (options: Partial<StartHolderOptions>, message: RegExp, code: Code) => {
      const dir = await tempDir(t);
      await assert.rejects(startHolder(dir, options), (e: unknown) => {
        assert.match((e as Error).message, message);
        assert.equal((e as { code: Code }).code, code);
        return true;
      });
      assert.ok(!existsSync(join(dir, "holder.sock")), "a holder that failed to start leaves no socket");
    };
    await refused({ sysctls: { "kernel.shm_rmid_forced": "1" } }, /kernel\.shm_rmid_forced: the pod does not have its own namespace/, Code.InvalidArgument);
    await refused({ newIpc: true, sysctls: { "net.core.somaxconn": "1" } }, /net\.core\.somaxconn: the pod does not have its own namespace/, Code.InvalidArgument);
    await refused({ newIpc: true, sysctls: { "kernel.shm_no_such_thing": "1" } }, /no such sysctl/, Code.InvalidArgument);
    await refused({ newIpc: true, sysctls: { "kernel/../vm/swappiness": "1" } }, /not a sysctl name/, Code.InvalidArgument);
    await refused({ newIpc: true, sysctls: { "kernel.shm_rmid_forced": "banana" } }, /kernel\.shm_rmid_forced=banana: Invalid argument/, Code.InvalidArgument);
  });

  it("makes a FIFO (mode 0600) on request; a relative path is InvalidArgument, an existing one AlreadyExists", async (t) => {
    const h = await startTestHolder(t);
    const fifo = join(h.dir, "start");
    await h.client.mkfifo(fifo);
    const st = statSync(fifo);
    assert.ok(st.isFIFO());
    assert.equal(st.mode & 0o777, 0o600);
    await assert.rejects(h.client.mkfifo(fifo), { code: Code.AlreadyExists });
    await assert.rejects(h.client.mkfifo("relative/start"), (err: Error & { code?: number }) => err.code === Code.InvalidArgument && /not an absolute path/.test(err.message));
    assert.deepEqual(await h.client.ping(), { pid: h.pid, podInitPid: undefined }, "the holder serves on");
  });

  it("with --new-pid runs a pod init that is pid 1 of its own namespace, while it stays in ours", async (t) => {
    const h = await startTestHolder(t, { newPid: true });
    const init = h.podInitPid;
    assert.ok(init !== undefined && init > 0);
    assert.match(readFileSync(join(h.dir, "holder.pid"), "utf8"), new RegExp(`^${h.pid} ${init}\n$`));
    assert.match(readFileSync(`/proc/${init}/status`, "utf8"), new RegExp(`^NSpid:\\s+${init}\\s+1$`, "m"));
    assert.equal(ppidOf(init), h.pid);
    assert.deepEqual(await h.client.ping(), { pid: h.pid, podInitPid: init });
    assert.notEqual(readlinkSync(`/proc/${init}/ns/pid`), readlinkSync("/proc/self/ns/pid"));
    assert.equal(readlinkSync(`/proc/${h.pid}/ns/pid`), readlinkSync("/proc/self/ns/pid"));
    const pid = await h.client.spawn({ id: "host", argv: ["/bin/sleep", "100"], env: [] });
    assert.equal(readlinkSync(`/proc/${pid}/ns/pid`), readlinkSync("/proc/self/ns/pid"), "spawned processes are in the host pid ns");
    assert.match(readFileSync(`/proc/${pid}/status`, "utf8"), new RegExp(`^NSpid:\\s+${pid}$`, "m"));
    // A process joining the pod's pid namespace sees the pod init as pid 1.
    const out = join(h.dir, "ps.out");
    const ns = await h.client.spawn({
      id: "inpod",
      argv: ["/usr/bin/nsenter", `--pid=/proc/${init}/ns/pid`, "--", "/bin/sh", "-c", "cat /proc/self/status | grep NSpid; echo $$"],
      env: [PATH_ENV],
      stdout: out,
    });
    assert.equal((await h.exits.forPid(ns)).status, 0);
    assert.match(readFileSync(out, "utf8"), /^NSpid:\s+\d+\s+\d+\n/);
    // The pod's pid 1 is the tiny kuasar-pod-init, and it reaps what is orphaned in the pod.
    assert.equal(readFileSync(`/proc/${init}/comm`, "utf8").trim(), POD_INIT_COMM);
    const orphaner = await h.client.spawn({
      id: "orphaner",
      argv: ["/usr/bin/nsenter", `--pid=/proc/${init}/ns/pid`, "--", "/bin/sh", "-c", "(/bin/sleep 1 &)"],
      env: [PATH_ENV],
    });
    assert.equal((await h.exits.forPid(orphaner)).status, 0);
    const children = () => readFileSync(`/proc/${init}/task/${init}/children`, "utf8").trim();
    await waitFor(() => children() !== "", "the orphan reparented to the pod init");
    await waitFor(() => children() === "", "the orphan reaped by the pod init");
    await h.client.shutdown();
    await waitFor(() => !alive(h.pid), "holder exit");
    const lines = journalLines(h.dir);
    assert.ok(lines.some((l) => l.startsWith(`${init} 137 `) && l.endsWith(` ${PODINIT_ID}`)), lines.join("\n"));
    assert.ok(lines.some((l) => l.startsWith(`${pid} 137 `) && l.endsWith(" host")));
    assert.equal(alive(init), false);
  });

  it("pumps a terminal received over the console socket (python stand-in for runc)", async (t) => {
    if (!existsSync("/usr/bin/python3")) return t.skip("/usr/bin/python3 not installed");
    const h = await startTestHolder(t);
    const sock = join(h.dir, "console.sock");
    const stdin = join(h.dir, "tty.in");
    const out = join(h.dir, "tty.out");
    mkfifo(stdin);
    const sender = [
      "import os, socket, subprocess, sys",
      "m, s = os.openpty()",
      "c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
      "c.connect(sys.argv[1])",
      "socket.send_fds(c, [b'/dev/pts/x'], [m])",
      "c.close(); os.close(m)",
      "p = subprocess.Popen(sys.argv[2:], stdin=s, stdout=s, stderr=s, start_new_session=True)",
      "os.close(s)",
      "sys.exit(p.wait())",
    ].join("\n");
    const pid = await h.client.spawn({
      id: "tty1",
      console: sock,
      stdin,
      stdout: out,
      argv: ["/usr/bin/python3", "-c", sender, sock, "/bin/sh", "-c", "read x; stty size; echo got:$x; exit 3"],
      env: [PATH_ENV],
    });
    await h.client.resize("tty1", 100, 40);
    const w = openSync(stdin, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    defer(t, () => closeSync(w));
    writeSync(w, "hi\n");
    const exit = await h.exits.forPid(pid);
    assert.equal(exit.status, 3);
    const text = readFileSync(out, "utf8");
    assert.match(text, /40 100\r\n/);
    assert.match(text, /got:hi\r\n/);
    assert.equal(existsSync(sock), false, "the console socket is removed once used");
    await assert.rejects(h.client.resize("nobody", 1, 1), (e: unknown) => isErrorCode(e, Code.NotFound));
  });

  it("pumps the terminal of a real runc container (create --console-socket, adopt, start)", async (t) => {
    const runc = spawnSync("sh", ["-c", "command -v runc"], { encoding: "utf8" }).stdout.trim();
    if (runc === "") return t.skip("runc not installed");
    const h = await startTestHolder(t);
    const bundle = join(h.dir, "bundle");
    await mkdir(join(bundle, "rootfs", "bin"), { recursive: true });
    await copyFile("/bin/busybox", join(bundle, "rootfs", "bin", "busybox"));
    await chmod(join(bundle, "rootfs", "bin", "busybox"), 0o755);
    for (const tool of ["sh", "stty", "cat", "echo"]) await symlink("busybox", join(bundle, "rootfs", "bin", tool));
    await execFileP(runc, ["spec"], { cwd: bundle });
    const spec = JSON.parse(await readFile(join(bundle, "config.json"), "utf8")) as { process: { args: string[]; terminal: boolean } };
    spec.process.args = ["sh", "-c", "read x; stty size; echo got:$x; exit 3"];
    spec.process.terminal = true;
    await writeFile(join(bundle, "config.json"), JSON.stringify(spec));
    const root = join(h.dir, "runc-root");
    const cid = `kh-${process.pid}-${randomBytes(3).toString("hex")}`;
    defer(t, () => execFileP(runc, ["--root", root, "delete", "--force", cid]).catch(() => undefined));
    const sock = join(h.dir, "console.sock");
    const stdin = join(h.dir, "tty.in");
    const out = join(h.dir, "tty.out");
    const pidFile = join(h.dir, "init.pid");
    mkfifo(stdin);
    const create = await h.client.spawn({
      id: cid,
      console: sock,
      stdin,
      stdout: out,
      argv: [runc, "--root", root, "--log", join(h.dir, "runc.log"), "create", "--bundle", bundle, "--console-socket", sock, "--pid-file", pidFile, cid],
      env: [PATH_ENV],
    });
    const w = openSync(stdin, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    defer(t, () => closeSync(w));
    const created = await h.exits.forPid(create);
    assert.equal(created.status, 0, readFileSync(join(h.dir, "runc.log"), "utf8"));
    const init = Number(readFileSync(pidFile, "utf8"));
    assert.equal(ppidOf(init), h.pid, "runc's container init is reparented to the holder");
    await h.client.adopt(cid, init);
    await h.client.resize(cid, 100, 40);
    await execFileP(runc, ["--root", root, "start", cid]);
    writeSync(w, "hi\n");
    const exit = await h.exits.forPid(init);
    assert.equal(exit.status, 3);
    assert.equal(exit.id, cid);
    const text = readFileSync(out, "utf8");
    assert.match(text, /40 100\r\n/);
    assert.match(text, /got:hi\r\n/);
  });

  it("survives garbage on the control socket and is not blocked by a stale client", async (t) => {
    const h = await startTestHolder(t);
    const sockPath = join(h.dir, "holder.sock");
    const stale = connect(sockPath);
    stale.on("error", () => undefined);
    defer(t, () => stale.destroy());
    stale.write(Buffer.from([0, 0, 1])); // half a length prefix, then silence

    const raw = connect(sockPath);
    defer(t, () => raw.destroy());
    await once(raw, "connect");
    const decoder = new MessageDecoder();
    const replies: string[][] = [];
    raw.on("data", (c: Buffer) => replies.push(...decoder.push(c).map((p) => decodeFields(p))));
    const prefixed = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
    const sent: [Buffer, string, number][] = [
      [prefixed(Buffer.from("no terminator")), "", 22],
      [Buffer.from([0, 0, 0, 0]), "", 22],
      [prefixed(Buffer.from("ping\0")), "", 22],
      [encodeMessage(["bogus", "r1"]), "r1", 38],
      [encodeMessage(["spawn", "r2", "x"]), "r2", 22],
      [encodeMessage(["spawn", "r3", "/", "", "", "", "", "99", "/bin/true", "0"]), "r3", 22],
      [encodeMessage(["spawn", "r4", "/", "", "", "", "weird", "1", "/bin/true", "0"]), "r4", 22],
      [encodeMessage(["kill", "r5", "12x", "9"]), "r5", 22],
      [encodeMessage(["kill", "r6", "0", "9"]), "r6", 22],
      [encodeMessage(["kill", "r7", "99999999999999999999", "9"]), "r7", 22],
      [encodeMessage(["resize", "r8", "70000", "1"]), "r8", 22],
      [encodeMessage(["adopt", "r9", "-5"]), "r9", 22],
      [encodeMessage(["exits", "r10", "x"]), "r10", 22],
      [encodeMessage(["ping", "r11", "extra"]), "r11", 38],
    ];
    for (const [bytes] of sent) raw.write(bytes);
    await waitFor(() => replies.length >= sent.length, "replies to garbage");
    assert.deepEqual(
      replies.map((r) => [r[0], r[1], Number(r[2])]),
      sent.map(([, id, errno]) => ["err", id, errno]),
    );

    // An oversize length closes that connection only.
    const big = connect(sockPath);
    big.on("error", () => undefined);
    await once(big, "connect");
    big.write(Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3]));
    big.resume();
    await once(big, "close");

    // Seeded random bytes on another.
    const noise = connect(sockPath);
    await once(noise, "connect");
    noise.on("error", () => undefined);
    noise.resume();
    let x = 12345;
    const bytes = Buffer.alloc(64 * 1024, 0).map(() => ((x = (x * 1103515245 + 12345) >>> 0), x >>> 24));
    noise.write(bytes);
    noise.end();
    await once(noise, "close");

    assert.deepEqual(await h.client.ping(), { pid: h.pid, podInitPid: undefined });
    const other = await HolderClient.connect(h.dir);
    defer(t, () => other.destroy());
    assert.equal((await other.ping()).pid, h.pid);
  });

  it("admits a new client past the connection limit by dropping the oldest silent one, never one that made requests (kuasard's)", async (t) => {
    const h = await startTestHolder(t);
    const kuasard = h.client;
    assert.equal((await kuasard.ping()).pid, h.pid);
    let kuasardClosed = false;
    kuasard.on("close", () => (kuasardClosed = true));
    const idle: Socket[] = [];
    defer(t, () => idle.forEach((s) => s.destroy()));
    const firstIdleClosed = new Promise((r) => setImmediate(r)).then(() => once(idle[0]!, "close"));
    for (let i = 0; i < 40; i++) {
      const s = connect(join(h.dir, "holder.sock"));
      s.on("error", () => undefined);
      s.resume();
      idle.push(s);
      await once(s, "connect");
    }
    const late = await HolderClient.connect(h.dir);
    defer(t, () => late.destroy());
    assert.equal((await late.ping()).pid, h.pid);
    // The first silent ones made room; kuasard's connection still works.
    await firstIdleClosed;
    assert.equal((await kuasard.ping()).pid, h.pid);
    assert.equal(kuasardClosed, false);
    // When every client spoke, the oldest goes (here: kuasard's, the oldest of all).
    const speakers: HolderClient[] = [];
    defer(t, () => speakers.forEach((c) => c.destroy()));
    for (let i = 0; i < 40; i++) {
      const c = await HolderClient.connect(h.dir);
      speakers.push(c);
      await c.ping().catch(() => undefined);
    }
    assert.equal(kuasardClosed, true);
  });

  it("times out a request and keeps later replies lined up", async (t) => {
    const h = await startTestHolder(t);
    // SIGSTOP the holder (we started it) so a request cannot be answered in time.
    process.kill(h.pid, "SIGSTOP");
    await assert.rejects(h.client.ping({ timeoutMs: 100 }), (e: unknown) => isErrorCode(e, Code.DeadlineExceeded));
    const ac = new AbortController();
    const canceled = h.client.ping({ signal: ac.signal });
    ac.abort();
    await assert.rejects(canceled, (e: unknown) => isErrorCode(e, Code.Canceled));
    process.kill(h.pid, "SIGCONT");
    assert.deepEqual(await h.client.ping(), { pid: h.pid, podInitPid: undefined });
  });

  it("serves a directory whose holder.sock is far longer than sun_path allows, and refuses a second holder there", async (t) => {
    const base = await tempDir(t);
    const dir = join(base, "a".repeat(120), "b".repeat(120), "pods", randomBytes(32).toString("hex"));
    await mkdir(dir, { recursive: true });
    assert.ok(Buffer.byteLength(join(dir, "holder.sock")) > 250);
    const h = await startHolder(dir, { logFile: join(dir, "holder.log") });
    defer(t, () => stopHolder(dir, h.pid));
    const st = statSync(join(dir, "holder.sock"));
    assert.ok(st.isSocket(), "the socket sits in the long dir itself");
    assert.equal(st.mode & 0o777, 0o600);
    const c = await HolderClient.connect(dir);
    defer(t, () => c.destroy());
    assert.equal((await c.ping()).pid, h.pid);
    const exits = new ExitLog(c);
    await c.spawn({ id: "long-1", argv: ["/bin/sh", "-c", "exit 7"], env: [PATH_ENV] });
    assert.equal((await exits.wait((e) => e.id === "long-1", "long-1 to exit")).status, 7);
    await assert.rejects(startHolder(dir), (e: unknown) => /another holder is serving/.test((e as Error).message));
    await c.shutdown({ timeoutMs: 15_000 });
    await waitFor(() => !alive(h.pid), `holder ${h.pid} to exit`);
    assert.equal(existsSync(join(dir, "holder.sock")), false, "the holder removed its socket on the way out");
  });

  it("fails clearly when the binary is missing or the directory is unusable", async (t) => {
    const dir = await tempDir(t);
    await assert.rejects(
      startHolder(dir, { binary: join(dir, "nope") }),
      (e: unknown) => isErrorCode(e, Code.FailedPrecondition) && (e as Error).message === "kuasar-holder not built: run npm run build",
    );
    await assert.rejects(startHolder(join(dir, "missing")), (e: unknown) => isErrorCode(e, Code.NotFound) && /--dir/.test((e as Error).message));
    await assert.rejects(HolderClient.connect(dir), (e: unknown) => isErrorCode(e, Code.NotFound));
    // A second holder for a directory already served is refused.
    const h = await startTestHolder(t);
    await assert.rejects(startHolder(h.dir), (e: unknown) => /another holder is serving/.test((e as Error).message));
    assert.equal((await h.client.ping()).pid, h.pid);
  });
});
