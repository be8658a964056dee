import { spawn, type ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
import { Code } from "../../errors/code.js";
import { codeFromErrnoNumber } from "../../errors/errno.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import type { Logger } from "../../log/logger.js";

/** How long after the zygote died (or could not start) requests fail at once instead of starting another. */
const RESPAWN_AFTER_MS = 1000;
/** The daemon's bound on one request (the zygote gives a host 10 s to listen, then says so). */
const REQUEST_TIMEOUT_MS = 15_000;

/** One pod's host to make. */
export interface ZygoteHostRequest {
  /** The pod's holder: its namespaces (and its children's pid namespace) are the host's. */
  holderPid: number;
  /** The pod's wasm dir, absolute: where the host listens. */
  hostDir: string;
  /** The pod cgroup's dir in each hierarchy ([] without a pod cgroup: the holder's are the daemon's). */
  cgroups: readonly string[];
}

interface Pending {
  resolve(pid: number): void;
  reject(err: RuntimeError): void;
  timer: NodeJS.Timeout;
}

/**
 * The node's template of pods' wasm hosts: `kuasar-wasm-host --zygote`
 * (native/wasm-host/zygote.c), WasmEdge loaded once per daemon, each pod's host a fork of it
 * that joins the pod. A host made so costs a fork where a started one cost an exec of the
 * private loader, its libraries' relocations and WasmEdge's set-up (most of a wasm pod's start
 * over a runc pod's, measured). Started on the first request, with the daemon's life
 * (it dies with the daemon; the hosts it made do not depend on it); one that died is started
 * again by a later request, at most once a second. A request it cannot serve fails with the
 * zygote's reason: the caller starts the host the usual way.
 */
export class WasmHostZygote {
  private child: ChildProcess | undefined;
  private conn: Socket | undefined;
  private readonly pending = new Map<string, Pending>();
  private seq = 0;
  private partial = "";
  private endedAt = -Infinity;
  private closed = false;

  /** `argv`: the host's command (the private loader, its library path, `kuasar-wasm-host`). */
  constructor(
    private readonly argv: readonly string[],
    private readonly log: Logger,
  ) {}

  /** The pid of the pod's host once it listens (0: a host that a container's runner started answers there already). */
  hostFor(req: ZygoteHostRequest): Promise<number> {
    const fields = [req.hostDir, ...req.cgroups];
    if (!Number.isSafeInteger(req.holderPid) || req.holderPid <= 1) return Promise.reject(new RuntimeError(Code.InvalidArgument, `wasm zygote: holder pid ${req.holderPid} is not a pid`));
    const bad = fields.find((f) => !f.startsWith("/") || /[\t\n]/.test(f));
    if (bad !== undefined) return Promise.reject(new RuntimeError(Code.InvalidArgument, `wasm zygote: ${JSON.stringify(bad)} is not an absolute path without tabs or newlines`));
    if (this.closed) return Promise.reject(new RuntimeError(Code.Unavailable, "wasm zygote: closed"));
    const conn = this.conn ?? this.start();
    if (conn === undefined) return Promise.reject(new RuntimeError(Code.Unavailable, "wasm zygote: it exited less than a second ago"));
    const id = String(++this.seq);
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => this.settle(id, new RuntimeError(Code.DeadlineExceeded, `wasm zygote: no answer within ${REQUEST_TIMEOUT_MS} ms`)), REQUEST_TIMEOUT_MS);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      conn.write([id, "H", String(req.holderPid), ...fields].join("\t") + "\n");
    });
  }

  /** Ends the zygote (pods' hosts stay); pending requests fail with Unavailable. */
  close(): void {
    this.closed = true;
    this.child?.kill("SIGKILL");
    this.ended("wasm zygote: closed");
  }

  /** The zygote's pid while it runs (for tests and the daemon's log). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private start(): Socket | undefined {
    if (performance.now() - this.endedAt < RESPAWN_AFTER_MS) return undefined;
    const [bin, ...args] = this.argv;
    if (bin === undefined) return undefined;
    // fd 3 is a socketpair (libuv's stdio pipe): the zygote's only connection. No environment.
    const child = spawn(bin, [...args, "--zygote", `--parent=${process.pid}`], { env: {}, stdio: ["ignore", "ignore", "pipe", "pipe"] });
    // Both are sockets (libuv's stdio pipes): unref'd, so they do not hold the daemon's loop open.
    const conn = child.stdio[3] as Socket;
    const stderr = child.stdio[2] as Socket;
    this.child = child;
    this.conn = conn;
    conn.setEncoding("utf8");
    conn.on("data", (chunk: string) => this.onData(chunk));
    conn.on("error", () => {}); // its end shows as the child's exit
    stderr.setEncoding("utf8");
    stderr.on("data", (text: string) => this.log.warn({ stderr: text.trimEnd() }, "wasm zygote"));
    child.on("error", (err) => {
      this.log.warn({ err }, "wasm zygote could not start");
      this.exited(child, `wasm zygote: ${err.message}`);
    });
    child.on("exit", (code, signal) => {
      if (!this.closed) this.log.warn({ code, signal }, "wasm zygote exited; pods' hosts it made keep running");
      this.exited(child, `wasm zygote exited (${signal ?? code})`);
    });
    child.unref();
    conn.unref();
    stderr.unref();
    this.log.debug({ zygote_pid: child.pid }, "wasm zygote started");
    return conn;
  }

  private exited(child: ChildProcess, why: string): void {
    if (this.child !== child) return;
    this.endedAt = performance.now();
    this.ended(why);
  }

  private ended(why: string): void {
    this.child = undefined;
    this.conn = undefined;
    this.partial = "";
    for (const id of [...this.pending.keys()]) this.settle(id, new RuntimeError(Code.Unavailable, why));
  }

  private onData(chunk: string): void {
    this.partial += chunk;
    let nl: number;
    while ((nl = this.partial.indexOf("\n")) >= 0) {
      const line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      const [id = "", kind, a = "", ...rest] = line.split("\t");
      if (kind === "R" && /^\d+$/.test(a)) this.settle(id, Number(a));
      else if (kind === "E") this.settle(id, new RuntimeError(codeFromErrnoNumber(Number(a)) ?? Code.Internal, `wasm zygote: ${rest.join(" ") || "failed"}`));
      else this.log.warn({ line }, "wasm zygote: an answer it should not give");
    }
  }

  private settle(id: string, outcome: number | RuntimeError): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (typeof outcome === "number") p.resolve(outcome);
    else p.reject(outcome);
  }
}
