/**
 * The holder as a guest agent (`--serve-port`) and streamed stdio (`:stream`).
 *
 * A guest's virtio-serial port is stood in for by two transports, each behind a unix
 * socket server like QEMU's `-chardev socket,server=on` (one host connection at a time,
 * output dropped while nobody is connected), reached with `HolderClient.connectSocket`:
 *  - "socketpair": the holder's port is a socketpair to this process (`fd:3`). The holder
 *    never sees the host come and go (a socketpair cannot report POLLHUP and then clear it).
 *  - "pty": the holder's port is a pty master; the relay opens the slave while a host is
 *    connected and closes it otherwise, which gives the master virtio-serial's semantics
 *    (POLLHUP and read EIO while nobody is on the other side, cleared on reopen). Needs python3.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { connect, createServer, type Socket } from "node:net";
import { hostname, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { describe, it, type TestContext } from "node:test";
import { promisify } from "node:util";
import { Code } from "../../src/errors/code.js";
import { isErrorCode } from "../../src/errors/runtime-error.js";
import { HolderClient, holderErrno, STREAM } from "../../src/holder/holder-client.js";
import { decodeFields, encodeMessage, type HolderExit, MessageDecoder } from "../../src/holder/holder-protocol.js";
import { defaultHolderBinary, startHolder } from "../../src/holder/start-holder.js";

const execFileP = promisify(execFile);
const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const WAIT_MS = 15_000;
const STDIO = { stdin: STREAM, stdout: STREAM, stderr: STREAM } as const;

async function waitFor(pred: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** waitFor on the holder's log; the log goes into the failure. */
async function waitForLog(h: ServeHolder, pred: () => boolean, what: string): Promise<void> {
  await waitFor(pred, what).catch((err: Error) => {
    throw new Error(`${err.message}; holder log:\n${h.log()}`);
  });
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2)[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** CPU ticks (user + system) used so far by `pid`. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

/** Everything a client heard: output per `id/fd`, and exits and eofs in arrival order. */
class Heard {
  readonly output = new Map<string, Buffer[]>();
  readonly sequence: string[] = [];
  readonly exits: HolderExit[] = [];

  constructor(client: HolderClient) {
    client.onOutput((id, fd, data) => {
      const k = `${id}/${fd}`;
      const list = this.output.get(k) ?? [];
      list.push(data);
      this.output.set(k, list);
    });
    client.onEof((id, fd) => this.sequence.push(`eof ${id} ${fd}`));
    client.on("exit", (e) => {
      this.exits.push(e);
      this.sequence.push(`exit ${e.id ?? "-"} ${e.status}`);
    });
  }

  text(id: string, fd: number): string {
    return this.bytes(id, fd).toString("utf8");
  }

  bytes(id: string, fd: number): Buffer {
    return Buffer.concat(this.output.get(`${id}/${fd}`) ?? []);
  }

  async exit(pid: number): Promise<HolderExit> {
    await waitFor(() => this.exits.some((e) => e.pid === pid), `exit of ${pid}`);
    return this.exits.find((e) => e.pid === pid)!;
  }

  async eof(id: string, fd: number): Promise<void> {
    await waitFor(() => this.sequence.includes(`eof ${id} ${fd}`), `eof ${id} ${fd}`);
  }
}

interface ServeHolder {
  readonly dir: string;
  readonly pid: number;
  /** The unix socket a host connects to (QEMU's chardev socket). */
  readonly socket: string;
  /** socketpair only: stop/resume reading what the holder sends (a host that does not read). */
  pause(paused: boolean): void;
  connect(): Promise<HolderClient>;
  log(): string;
}

const cleanups = new WeakMap<TestContext, (() => unknown)[]>();

/** Registers cleanup for after the test, last-in first-out (t.after hooks run first-in first-out). */
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
  const dir = await mkdtemp("/tmp/khs-");
  defer(t, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Stops a holder we started: `shutdown` over a fresh connection, else SIGKILL. */
async function stop(h: ServeHolder, child: ChildProcess): Promise<void> {
  if (alive(h.pid)) {
    const c = await h.connect().catch(() => undefined);
    await c?.shutdown({ timeoutMs: 15_000 }).catch(() => undefined);
    c?.destroy();
    await waitFor(() => !alive(h.pid), "holder exit", 5000).catch(() => process.kill(h.pid, "SIGKILL"));
  }
  child.kill("SIGKILL");
}

/** Holder on a socketpair (fd 3), behind a one-connection relay socket. `wrap` prefixes its argv (e.g. unshare). */
async function socketpairHolder(t: TestContext, wrap: readonly string[] = []): Promise<ServeHolder & { child: ChildProcess }> {
  const dir = await tempDir(t);
  const argv = [...wrap, defaultHolderBinary, "--dir", dir, "--serve-port", "fd:3", "--log", join(dir, "holder.log")];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe", "pipe"] });
  let stderr = "";
  (child.stdio[2] as Readable).on("data", (d: Buffer) => (stderr += d.toString()));
  const port = child.stdio[3] as Socket;
  port.on("error", () => undefined);
  let conn: Socket | undefined;
  port.on("data", (d: Buffer) => {
    if (conn !== undefined && !conn.destroyed) conn.write(d); // else dropped, as QEMU does with no host
  });
  const socket = join(dir, "port.sock");
  const server = createServer((c) => {
    if (conn !== undefined) return void c.destroy();
    conn = c;
    c.on("data", (d: Buffer) => port.write(d));
    c.on("error", () => undefined);
    c.on("close", () => {
      if (conn === c) conn = undefined;
    });
  });
  server.listen(socket);
  await once(server, "listening");
  const h = {
    dir,
    pid: child.pid!,
    socket,
    child,
    pause: (paused: boolean) => (paused ? port.pause() : port.resume()),
    connect: () => HolderClient.connectSocket(socket, { timeoutMs: 5000 }),
    log: () => (existsSync(join(dir, "holder.log")) ? readFileSync(join(dir, "holder.log"), "utf8") : "") + stderr,
  };
  defer(t, async () => {
    conn?.destroy();
    await waitFor(() => conn === undefined, "the relay to be free");
    await stop(h, child);
    server.close();
  });
  return h;
}

/**
 * Holder on a pty master; a python relay opens the slave only while a host is connected.
 * The holder sees the host the moment the slave is open and may write at once (the output
 * it held back): nothing may flush the slave after opening it. What the departed host left
 * unread is flushed before the slave is closed instead, while the holder still sees a host.
 */
const PTY_RELAY = `
import os, select, socket, subprocess, sys, termios, tty
path = sys.argv[1]
m, s = os.openpty()
name = os.ttyname(s)
tty.setraw(s)
os.close(s)  # no host yet: the holder starts detached
holder = subprocess.Popen(sys.argv[2:] + ["--serve-port", "fd:%d" % m], pass_fds=[m])
os.close(m)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
print(holder.pid, flush=True)
conn = slave = None
while True:
    fds = [sys.stdin, srv] if conn is None else [sys.stdin, conn, slave]
    ready, _, _ = select.select(fds, [], [])
    if sys.stdin in ready and not sys.stdin.buffer.read1(1):
        sys.exit(0)
    if conn is None and srv in ready:
        conn, _ = srv.accept()
        slave = os.open(name, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(slave, termios.TCSANOW)  # raw already (set above, kept by the pair); TCSAFLUSH would drop the holder's first frames
        continue
    if conn is not None and conn in ready:
        try:
            d = conn.recv(65536)
        except OSError:
            d = b""
        if not d:
            conn.close()
            termios.tcflush(slave, termios.TCIFLUSH)  # what this host did not read is lost with it
            os.close(slave)
            conn = slave = None
            continue
        os.write(slave, d)
    if conn is not None and slave in ready:
        try:
            d = os.read(slave, 65536)
        except OSError:
            d = b""
        if not d:  # the holder closed the port (it exited): a pty hangup drops what was unread
            sys.exit(0)
        try:
            conn.sendall(d)
        except OSError:
            pass  # the host is going away: the next select sees it
`;

async function ptyHolder(t: TestContext): Promise<ServeHolder | undefined> {
  if (!existsSync("/usr/bin/python3")) return undefined;
  const dir = await tempDir(t);
  const socket = join(dir, "port.sock");
  const argv = ["-c", PTY_RELAY, socket, defaultHolderBinary, "--dir", dir, "--log", join(dir, "holder.log")];
  const child = spawn("/usr/bin/python3", argv, { stdio: ["pipe", "pipe", "inherit"] });
  const [line] = (await once(child.stdout!, "data")) as [Buffer];
  const h: ServeHolder = {
    dir,
    pid: Number(line.toString().trim()),
    socket,
    pause: () => assert.fail("pty relay cannot pause"),
    connect: () => HolderClient.connectSocket(socket, { timeoutMs: 5000 }),
    log: () => (existsSync(join(dir, "holder.log")) ? readFileSync(join(dir, "holder.log"), "utf8") : ""),
  };
  defer(t, () => stop(h, child));
  return h;
}

describe("pod holder serving a port", () => {
  it("streams stdout and stderr as out events, eof before the exit", async (t) => {
    const h = await socketpairHolder(t);
    const c = await h.connect();
    defer(t, () => c.destroy());
    const heard = new Heard(c);
    assert.equal((await c.ping()).pid, h.pid);
    const pid = await c.spawn({ id: "s1", argv: ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], env: [PATH_ENV], ...STDIO });
    const exit = await heard.exit(pid);
    assert.equal(exit.status, 3);
    assert.equal(exit.id, "s1");
    assert.equal(heard.text("s1", 1), "out\n");
    assert.equal(heard.text("s1", 2), "err\n");
    assert.deepEqual(new Set(heard.sequence), new Set(["eof s1 1", "eof s1 2", "exit s1 3"]));
    assert.equal(heard.sequence.at(-1), "exit s1 3", "both pipes were closed before the reap: eofs come first");
    // Only `:stream` is special among values starting with ':'.
    await assert.rejects(c.spawn({ id: "s2", argv: ["/bin/true"], env: [], stdout: ":other" }), (e: unknown) => isErrorCode(e, Code.InvalidArgument));
  });

  it("round-trips more than 1 MiB of binary stdin through cat, chunked, retrying a full queue", async (t) => {
    const h = await socketpairHolder(t);
    const c = await h.connect();
    defer(t, () => c.destroy());
    const heard = new Heard(c);
    // Count write requests (the private send) to see the EAGAIN retries.
    let writes = 0;
    const inner = c as unknown as { send: (verb: string, ...rest: unknown[]) => Promise<unknown> };
    const send = inner.send.bind(c);
    inner.send = (verb, ...rest) => {
      if (verb === "write") writes++;
      return send(verb, ...rest);
    };
    const data = Buffer.concat([Buffer.alloc(70_000), randomBytes(3 << 20), Buffer.from([0, 0, 10, 255, 0])]);
    // cat starts reading once the gate opens: the pipe and then the holder's 1 MiB queue fill,
    // and writes are refused (and retried) until then.
    const gate = join(h.dir, "gate");
    spawnSync("mkfifo", [gate]);
    const pid = await c.spawn({ id: "cat", argv: ["/bin/sh", "-c", `read x < ${gate}; exec cat`], env: [PATH_ENV], ...STDIO });
    const chunks = Math.ceil(data.length / (48 << 10));
    const writing = c.write("cat", data);
    await waitFor(() => writes > chunks / 2 + 1, "a write refused and retried");
    spawnSync("sh", ["-c", `echo go > ${gate}`]);
    await writing;
    await c.closeStdin("cat");
    await heard.eof("cat", 1);
    assert.equal((await heard.exit(pid)).status, 0);
    assert.ok(heard.bytes("cat", 1).equals(data), "every byte comes back, in order");
    assert.ok((heard.output.get("cat/1") ?? []).every((b) => b.length <= 48 << 10));
    assert.ok(writes > chunks, `${writes} write requests for ${chunks} chunks: some were retried`);
    await assert.rejects(c.write("cat", Buffer.from("late")), (e: unknown) => isErrorCode(e, Code.NotFound) || isErrorCode(e, Code.Unavailable));
    await assert.rejects(c.write("nobody", Buffer.from("x")), (e: unknown) => isErrorCode(e, Code.NotFound));
  });

  it("stops reading output while the host does not read (back-pressure), then delivers all of it", async (t) => {
    const h = await socketpairHolder(t);
    const c = await h.connect();
    defer(t, () => c.destroy());
    const heard = new Heard(c);
    const size = 4 << 20;
    const pid = await c.spawn({ id: "big", argv: ["/bin/sh", "-c", `head -c ${size} /dev/zero; exit 6`], env: [PATH_ENV], stdout: STREAM });
    h.pause(true);
    await new Promise((r) => setTimeout(r, 500));
    const heldAt = heard.bytes("big", 1).length;
    assert.ok(heldAt < size, "not everything came through while paused");
    assert.ok(alive(pid), "the writer is blocked on its pipe: output is held, not dropped");
    h.pause(false);
    assert.equal((await heard.exit(pid)).status, 6);
    await heard.eof("big", 1);
    const got = heard.bytes("big", 1);
    assert.equal(got.length, size);
    assert.ok(got.every((b) => b === 0));
  });

  it("streams a terminal received over the console socket both ways (python stand-in for runc)", async (t) => {
    if (!existsSync("/usr/bin/python3")) return t.skip("/usr/bin/python3 not installed");
    const h = await socketpairHolder(t);
    const c = await h.connect();
    defer(t, () => c.destroy());
    const heard = new Heard(c);
    const sock = join(h.dir, "console.sock");
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
    // Written before the terminal arrives: queued, then delivered to it.
    const pid = await c.spawn({
      id: "tty",
      console: sock,
      stdin: STREAM,
      stdout: STREAM,
      argv: ["/usr/bin/python3", "-c", sender, sock, "/bin/sh", "-c", "read x; stty size; echo got:$x; exit 3"],
      env: [PATH_ENV],
    });
    await c.resize("tty", 100, 40);
    await c.write("tty", Buffer.from("hi\n"));
    assert.equal((await heard.exit(pid)).status, 3);
    await heard.eof("tty", 1);
    const text = heard.text("tty", 1);
    assert.match(text, /40 100\r\n/);
    assert.match(text, /got:hi\r\n/);
    assert.equal(heard.output.has("tty/2"), false, "a terminal has one output");
  });

  it("streams the stdio of a real runc container (create, adopt, start) as the guest agent does", async (t) => {
    const runc = spawnSync("sh", ["-c", "command -v runc"], { encoding: "utf8" }).stdout.trim();
    if (runc === "") return t.skip("runc not installed");
    const h = await socketpairHolder(t);
    const c = await h.connect();
    defer(t, () => c.destroy());
    const heard = new Heard(c);
    const bundle = join(h.dir, "bundle");
    await mkdir(join(bundle, "rootfs", "bin"), { recursive: true });
    await copyFile("/bin/busybox", join(bundle, "rootfs", "bin", "busybox"));
    await chmod(join(bundle, "rootfs", "bin", "busybox"), 0o755);
    await symlink("busybox", join(bundle, "rootfs", "bin", "sh"));
    await execFileP(runc, ["spec"], { cwd: bundle });
    const spec = JSON.parse(await readFile(join(bundle, "config.json"), "utf8")) as { process: { args: string[]; terminal: boolean } };
    spec.process.args = ["sh", "-c", "read x; echo got:$x; echo err >&2; exit 3"];
    spec.process.terminal = false;
    await writeFile(join(bundle, "config.json"), JSON.stringify(spec));
    const root = join(h.dir, "runc-root");
    const cid = `khs-${process.pid}-${randomBytes(3).toString("hex")}`;
    defer(t, () => execFileP(runc, ["--root", root, "delete", "--force", cid]).catch(() => undefined));
    const pidFile = join(h.dir, "init.pid");
    const create = await c.spawn({
      id: cid,
      argv: [runc, "--root", root, "--log", join(h.dir, "runc.log"), "create", "--bundle", bundle, "--pid-file", pidFile, cid],
      env: [PATH_ENV],
      ...STDIO,
    });
    assert.equal((await heard.exit(create)).status, 0, readFileSync(join(h.dir, "runc.log"), "utf8"));
    const init = Number(readFileSync(pidFile, "utf8"));
    await c.adopt(cid, init);
    await execFileP(runc, ["--root", root, "start", cid]);
    await c.write(cid, Buffer.from("hi\n"));
    const exit = await heard.exit(init);
    assert.equal(exit.status, 3);
    assert.equal(exit.id, cid);
    await heard.eof(cid, 1);
    await heard.eof(cid, 2);
    assert.equal(heard.text(cid, 1), "got:hi\n");
    assert.equal(heard.text(cid, 2), "err\n");
  });

  it("keeps every exit in the journal across a host reconnect (socketpair: the holder does not notice)", async (t) => {
    const h = await socketpairHolder(t);
    const c1 = await h.connect();
    const pid = await c1.spawn({ id: "j1", argv: ["/bin/sh", "-c", "sleep 0.3; exit 7"], env: [PATH_ENV] });
    c1.destroy();
    await waitFor(() => !alive(pid), "j1 to exit");
    const c2 = await h.connect();
    defer(t, () => c2.destroy());
    const exit = (await c2.exits()).find((e) => e.pid === pid);
    assert.equal(exit?.status, 7);
    assert.equal(exit?.id, "j1");
  });

  it("refuses `restored` (clock, RNG, dir) unless it is a guest's pid 1: the clock is the whole machine's", async (t) => {
    const h = await socketpairHolder(t);
    const c = await h.connect();
    defer(t, () => c.destroy());
    await assert.rejects(c.restored(new Date(0), new Uint8Array(16), join(h.dir, "moved")), /only a VM guest's agent \(pid 1\)/);
    assert.ok(!existsSync(join(h.dir, "moved")), "nothing done");
    assert.equal((await c.ping()).pid, h.pid, "still serving");
  });

  it("as pid 1 powers off on shutdown, after killing and journaling everything", async (t) => {
    const unshare = spawnSync("sh", ["-c", "command -v unshare"], { encoding: "utf8" }).stdout.trim();
    if (unshare === "") return t.skip("unshare not installed");
    // --mount-proc: pids in /proc are the namespace's, as in a guest.
    const h = await socketpairHolder(t, [unshare, "--pid", "--fork", "--kill-child", "--mount-proc"]);
    const c = await h.connect();
    defer(t, () => c.destroy());
    const heard = new Heard(c);
    assert.equal((await c.ping()).pid, 1, "pid 1 of its pid namespace");
    const orphanFile = join(h.dir, "orphan");
    const pid = await c.spawn({ id: "p1", argv: ["/bin/sh", "-c", `sleep 100 & echo $! > ${orphanFile}; exit 0`], env: [PATH_ENV] });
    assert.equal((await heard.exit(pid)).status, 0);
    const sleeper = await c.spawn({ id: "p2", argv: ["/bin/sleep", "100"], env: [] });
    const exited = once(h.child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
    await c.shutdown();
    const [code, signal] = await exited;
    // reboot(RB_POWER_OFF) in a pid namespace ends its init as if killed by SIGINT; unshare passes that on.
    assert.ok(signal === "SIGINT" || code === 128 + 2, `unshare ended with ${code}/${signal}`);
    const journal = readFileSync(join(h.dir, "exits"), "utf8");
    const orphan = readFileSync(orphanFile, "utf8").trim();
    assert.match(journal, new RegExp(`^${sleeper} 137 \\d+ \\d+ p2$`, "m"));
    assert.match(journal, new RegExp(`^${orphan} 137 \\d+ \\d+ -$`, "m"), "the orphan reparented to pid 1 is reaped and journaled");
    assert.match(h.log(), /powering off/);
  });

  it("holds output back while the host is away and loses no exit (pty: real POLLHUP)", async (t) => {
    const h = await ptyHolder(t);
    if (h === undefined) return t.skip("/usr/bin/python3 not installed");
    const c1 = await h.connect();
    const gate = join(h.dir, "gate");
    spawnSync("mkfifo", [gate]);
    const lines = 20_000; // ~190 KB: more than a pipe holds, so the writer blocks while nobody reads
    const script = `read x; i=0; while [ $i -lt ${lines} ]; do echo line$i; i=$((i+1)); done; exit 4`;
    const talker = await c1.spawn({ id: "talker", argv: ["/bin/sh", "-c", script], env: [PATH_ENV], stdin: gate, stdout: STREAM, stderr: STREAM });
    spawnSync("mkfifo", [`${gate}.2`]);
    const quiet = await c1.spawn({ id: "quiet", argv: ["/bin/sh", "-c", `read x < ${gate}.2; exit 9`], env: [PATH_ENV] });
    c1.destroy();
    // Counted in the log: the relay opens the slave only once the previous host is gone.
    const count = (what: string) => h.log().split(`host ${what} the port`).length - 1;
    await waitForLog(h, () => count("disconnected from") === 1, "the holder to see the host leave");

    // A host that dies mid-request: the holder drops the partial request with the connection.
    // (Before any output is pending: a connection gets whatever output is held, and what it
    // does not read is lost with it.)
    const half = connect(h.socket);
    half.on("error", () => undefined);
    await once(half, "connect");
    await waitForLog(h, () => count("connected to") === 2, "the holder to see the half request's host");
    // No wait needed before the hangup: the holder reads what the pty holds before it sees EIO,
    // so the partial request always reaches it and is dropped with the connection.
    half.write(encodeMessage(["ping", "half"]).subarray(0, 7));
    half.destroy();
    await waitForLog(h, () => count("disconnected from") === 2, "the holder to see the half request's host leave");

    // While nobody is connected: the talker's output is held (it blocks), the quiet one exits.
    spawnSync("sh", ["-c", `echo go > ${gate}; echo go > ${gate}.2`]);
    await waitFor(() => !alive(quiet), "quiet to exit");
    const before = cpuTicks(h.pid);
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(cpuTicks(h.pid) - before < 20, "a disconnected port is re-checked on a timer, not busy-polled");
    assert.ok(alive(talker), "the talker is blocked on its full stdout pipe, not discarded");

    const c2 = await h.connect();
    defer(t, () => c2.destroy());
    const heard = new Heard(c2);
    assert.equal((await c2.ping()).pid, h.pid, "the next connection starts on a clean frame");
    const replay = (await c2.exits()).find((e) => e.pid === quiet);
    assert.equal(replay?.status, 9, "the exit missed while away is in the journal");
    assert.equal(replay?.id, "quiet");
    assert.equal((await heard.exit(talker)).status, 4);
    await heard.eof("talker", 1);
    const text = heard.text("talker", 1);
    const want = Array.from({ length: lines }, (_, i) => `line${i}\n`).join("");
    assert.equal(text.length, want.length);
    assert.ok(text === want, "all output arrives after the reconnect, in order, none lost");
    assert.ok(h.log().includes("host connected to the port"));
  });
});

describe("pod holder socket mode streaming", () => {
  it("answers a write with malformed base64 with EINVAL and keeps the stream", async (t) => {
    const dir = await tempDir(t);
    const started = await startHolder(dir, { logFile: join(dir, "holder.log") });
    const c = await HolderClient.connect(dir);
    defer(t, async () => {
      await c.shutdown().catch(() => undefined);
      c.destroy();
      await waitFor(() => !alive(started.pid), "holder exit").catch(() => process.kill(started.pid, "SIGKILL"));
    });
    const heard = new Heard(c);
    const pid = await c.spawn({ id: "w", argv: ["/bin/cat"], env: [], ...STDIO });
    const raw = connect(join(dir, "holder.sock"));
    defer(t, () => raw.destroy());
    await once(raw, "connect");
    const decoder = new MessageDecoder();
    const replies: string[][] = [];
    raw.on("data", (d: Buffer) => replies.push(...decoder.push(d).map((p) => decodeFields(p))));
    const bad = ["abc", "ab=c", "a===", "!!!!", "QUJD\n", "=AAA"];
    for (const [i, b] of bad.entries()) raw.write(encodeMessage(["write", `b${i}`, "w", b]));
    raw.write(encodeMessage(["write", "ok1", "w", Buffer.from("fine\n").toString("base64")]));
    raw.write(encodeMessage(["write", "e1", "w"]));
    await waitFor(() => replies.length === bad.length + 2, "replies");
    assert.deepEqual(
      replies.map((r) => r.slice(0, 3).join(" ")),
      [...bad.map((_, i) => `err b${i} 22`), "ok ok1", "err e1 22"],
    );
    await c.closeStdin("w");
    await heard.eof("w", 1);
    assert.equal((await heard.exit(pid)).status, 0);
    assert.equal(heard.text("w", 1), "fine\n");
    await assert.rejects(c.write("w", Buffer.from("x")), (e: unknown) => isErrorCode(e, Code.NotFound) || isErrorCode(e, Code.Unavailable));
  });

  it("streams to the spawning client and takes stdin writes", async (t) => {
    const dir = await tempDir(t);
    const started = await startHolder(dir, { logFile: join(dir, "holder.log") });
    const c = await HolderClient.connect(dir);
    const other = await HolderClient.connect(dir);
    defer(t, async () => {
      await c.shutdown().catch(() => undefined);
      c.destroy();
      other.destroy();
      await waitFor(() => !alive(started.pid), "holder exit").catch(() => process.kill(started.pid, "SIGKILL"));
    });
    const heard = new Heard(c);
    const overheard = new Heard(other);
    const pid = await c.spawn({ id: "sock", argv: ["/bin/sh", "-c", "cat; echo done >&2; exit 5"], env: [PATH_ENV], ...STDIO });
    await c.write("sock", Buffer.from("hello\0world\n"));
    await c.closeStdin("sock");
    await heard.eof("sock", 2);
    assert.equal((await heard.exit(pid)).status, 5);
    assert.equal(heard.text("sock", 1), "hello\0world\n");
    assert.equal(heard.text("sock", 2), "done\n");
    assert.equal(overheard.output.size, 0, "output goes to the spawning connection only");
    await overheard.exit(pid); // exits still go to everyone

    // Once the spawning connection is gone, output is drained and dropped: the writer never blocks.
    const gone = await other.spawn({ id: "orphan-out", argv: ["/bin/sh", "-c", "sleep 0.2; head -c 1048576 /dev/zero; exit 8"], env: [PATH_ENV], stdout: STREAM });
    other.destroy();
    assert.equal((await heard.exit(gone)).status, 8);
    assert.equal(heard.output.has("orphan-out/1"), false);
  });
});

describe("the guest setup verbs (hostname, NIC, routes, sysctls by the agent's own calls)", () => {
  const code = (c: Code) => (e: unknown) => isErrorCode(e, c);

  it("are refused by a serve-mode holder that is not pid 1: it shares the host's or a pod's namespaces", async (t) => {
    const h = await socketpairHolder(t);
    const c = await h.connect();
    defer(t, () => c.destroy());
    const host = hostname();
    for (const call of [
      () => c.access("/bin/sh"),
      () => c.setHostname("not-the-host"),
      () => c.linkUp("lo", 1400),
      () => c.addAddress("lo", "192.0.2.9/24"),
      () => c.addRoute("lo", { family: 4, dst: "198.51.100.0/24" }),
      () => c.sysctl("net.ipv4.ip_forward", "1"),
      () => c.startExecFifo("/run/runc/c1/exec.fifo"),
    ]) {
      await assert.rejects(call(), (e: unknown) => isErrorCode(e, Code.PermissionDenied) && /only a VM guest's agent \(pid 1\)/.test((e as Error).message));
    }
    assert.equal(hostname(), host, "nothing done");
    assert.equal((await c.ping()).pid, h.pid, "still serving");
  });

  it("as pid 1 (private pid, net and UTS namespaces) set the hostname, bring a late NIC up, add addresses, routes and sysctls", async (t) => {
    const unshare = spawnSync("sh", ["-c", "command -v unshare"], { encoding: "utf8" }).stdout.trim();
    if (unshare === "") return t.skip("unshare not installed");
    if (spawnSync(unshare, ["--net", "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"]).status !== 0) return t.skip("no veth support to stand in for a guest NIC");
    const h = await socketpairHolder(t, [unshare, "--pid", "--fork", "--kill-child", "--mount-proc", "--net", "--uts"]);
    const c = await h.connect();
    defer(t, () => c.destroy());
    const heard = new Heard(c);
    assert.equal((await c.ping()).pid, 1, "pid 1 of its pid namespace");
    const run = async (id: string, script: string): Promise<string> => {
      const pid = await c.spawn({ id, argv: ["/bin/sh", "-c", script], env: [PATH_ENV], ...STDIO });
      const exit = await heard.exit(pid);
      assert.equal(exit.status, 0, `${script}: ${heard.text(id, 2)}`);
      return heard.text(id, 1);
    };

    // The runtime probe.
    await c.access("/bin/sh");
    await assert.rejects(c.access("/nonexistent/crun"), code(Code.NotFound));
    await assert.rejects(c.access("bin/sh"), code(Code.InvalidArgument));

    const host = hostname();
    await c.setHostname("guest-0123");
    await assert.rejects(c.setHostname(""), code(Code.InvalidArgument));
    await assert.rejects(c.setHostname("x".repeat(65)), code(Code.InvalidArgument));
    assert.equal(hostname(), host, "the host's own hostname is untouched (its UTS namespace is not the holder's)");

    // A NIC not there yet (hot-plugged later): ENODEV at once, so the host can ask again.
    await assert.rejects(c.linkUp("eth0", 1400), (e: unknown) => holderErrno(e) === "ENODEV");
    await run("nic", "ip link add eth0 type veth peer name eth1 && ip link set eth1 up");
    await assert.rejects(c.linkUp("eth0", 20), code(Code.InvalidArgument), "an MTU below IPv4's minimum");
    await c.linkUp("eth0", 1400);

    await c.addAddress("eth0", "192.0.2.5/24");
    await c.addAddress("eth0", "2001:db8::5/64");
    await assert.rejects(c.addAddress("eth0", "192.0.2.5/24"), code(Code.AlreadyExists), "an address already there fails, as `ip addr add` did");
    await assert.rejects(c.addAddress("eth0", "192.0.2.6"), code(Code.InvalidArgument), "a prefix is required");
    await assert.rejects(c.addAddress("eth0", "192.0.2.6/33"), code(Code.InvalidArgument));
    await assert.rejects(c.addAddress("eth0", "not-an-address/24"), code(Code.InvalidArgument));
    await assert.rejects(c.addAddress("eth9", "192.0.2.6/24"), (e: unknown) => holderErrno(e) === "ENODEV");

    await c.addRoute("eth0", { family: 4, dst: "10.0.0.0/8", scope: "link" });
    await c.addRoute("eth0", { family: 4, dst: "198.51.100.7" }); // one host, the link's by ip(8)'s default
    await c.addRoute("eth0", { family: 4, dst: "default", gateway: "192.0.2.1" });
    await c.addRoute("eth0", { family: 6, dst: "2001:db8:1::/48", gateway: "2001:db8::1" });
    await assert.rejects(c.addRoute("eth0", { family: 4, dst: "default", gateway: "192.0.2.1" }), code(Code.AlreadyExists), "a route already there fails, as `ip route add` did");
    await assert.rejects(c.addRoute("eth0", { family: 4, dst: "default", gateway: "2001:db8::1" }), code(Code.InvalidArgument), "a gateway of the other family");
    await assert.rejects(c.addRoute("eth0", { family: 4, dst: "default", scope: "galaxy" }), code(Code.InvalidArgument));
    await assert.rejects(c.addRoute("eth0", { family: 5 as 4, dst: "default" }), code(Code.InvalidArgument));
    await assert.rejects(c.addRoute("eth0", { family: 4, dst: "203.0.113.0/24", gateway: "203.0.113.1" }), (e: unknown) => /routeadd 203\.0\.113\.0\/24 via 203\.0\.113\.1 dev eth0: /.test((e as Error).message), "an unreachable gateway: the kernel's answer, named");

    await c.sysctl("net.ipv4.ip_forward", "1");
    await c.sysctl("net/ipv4/conf/eth0/forwarding", "1"); // slashes: dots would be part of a name
    await c.sysctl("net.ipv4.conf.eth0.rp_filter", "2");
    for (const bad of ["../../etc/hostname", "/proc/sys/net/ipv4/ip_forward", "net..ipv4.ip_forward", "net.ipv4.ip_forward x", "net.ipv4.ip_forward\n", "", "net//ipv4/ip_forward", "net/ipv4/"]) {
      await assert.rejects(c.sysctl(bad, "1"), (e: unknown) => isErrorCode(e, Code.InvalidArgument) && /not a sysctl name/.test((e as Error).message), JSON.stringify(bad));
    }
    await assert.rejects(c.sysctl("net.ipv4.no_such_sysctl", "1"), code(Code.NotFound));

    // A container crun created, started through its exec fifo (crun's init reads one byte from it).
    const fifoDir = mkdtempSync(join(tmpdir(), "fifostart-"));
    defer(t, () => rmSync(fifoDir, { recursive: true, force: true }));
    const fifo = join(fifoDir, "c1", "exec.fifo");
    mkdirSync(dirname(fifo));
    execFileSync("mkfifo", [fifo]);
    await assert.rejects(c.startExecFifo(fifo), (e: unknown) => holderErrno(e) === "ENXIO" && /already dead/.test((e as Error).message), "nobody reads it: the init is gone");
    assert.ok(existsSync(fifo), "a refused start leaves the fifo: the container stays created");
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    defer(t, () => closeSync(reader));
    await c.startExecFifo(fifo);
    assert.equal(existsSync(fifo), false, "removed: crun tells running from created by it");
    const got = Buffer.alloc(8);
    assert.deepEqual([...got.subarray(0, readSync(reader, got))], [0], "the init's one byte");
    await assert.rejects(c.startExecFifo(fifo), code(Code.NotFound), "started already: no fifo");
    writeFileSync(fifo, "");
    await assert.rejects(c.startExecFifo(fifo), code(Code.InvalidArgument), "not a FIFO");
    for (const bad of ["exec.fifo", join(fifoDir, "c1", "other"), "/exec.fifo", join(fifoDir, "c1", "exec.fifo.x")]) {
      await assert.rejects(c.startExecFifo(bad), code(Code.InvalidArgument), bad);
    }

    // What the guest's own tools see.
    assert.equal((await run("hostname", "hostname")).trim(), "guest-0123");
    assert.equal((await run("mtu", "cat /sys/class/net/eth0/mtu")).trim(), "1400");
    assert.equal(Number((await run("flags", "cat /sys/class/net/eth0/flags")).trim()) & 1, 1, "IFF_UP");
    const addrs = JSON.parse(await run("addr", "ip -j addr show dev eth0")) as { addr_info: { local: string; prefixlen: number; scope: string }[] }[];
    const global = addrs[0]!.addr_info.filter((a) => a.scope === "global").map((a) => `${a.local}/${a.prefixlen}`);
    assert.deepEqual(global.sort(), ["192.0.2.5/24", "2001:db8::5/64"]);
    const routes4 = JSON.parse(await run("r4", "ip -j -4 route show dev eth0")) as { dst: string; gateway?: string; scope?: string; protocol?: string }[];
    const mine = routes4.filter((r) => r.protocol !== "kernel").map((r) => `${r.dst} ${r.gateway ?? "-"} ${r.scope ?? "universe"}`);
    assert.deepEqual(mine.sort(), ["10.0.0.0/8 - link", "198.51.100.7 - link", "default 192.0.2.1 universe"]);
    const routes6 = JSON.parse(await run("r6", "ip -j -6 route show dev eth0")) as { dst: string; gateway?: string }[];
    assert.ok(routes6.some((r) => r.dst === "2001:db8:1::/48" && r.gateway === "2001:db8::1"), JSON.stringify(routes6));
    assert.equal((await run("sysctls", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/eth0/forwarding /proc/sys/net/ipv4/conf/eth0/rp_filter")).split("\n").slice(0, 3).join(" "), "1 1 2");
  });
});
