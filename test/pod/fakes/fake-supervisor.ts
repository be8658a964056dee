import { execFileSync } from "node:child_process";
import { appendFileSync } from "node:fs";
import { EventEmitter } from "node:events";
import { Code } from "../../../src/errors/code.js";
import { RuntimeError } from "../../../src/errors/runtime-error.js";
import type { HolderClientEvents, HolderSpawnOptions } from "../../../src/holder/holder-client.js";
import { parseJournal, type HolderExit } from "../../../src/holder/holder-protocol.js";
import type { MountCall } from "../../../src/fs/mount-calls.js";
import type { PodAgent } from "../../../src/holder/pod-agent.js";

/** A process the fake supervisor "runs": its spawn id and argv. */
export interface FakeProcess {
  id: string;
  argv: string[];
}

/**
 * A pod's supervisor without a process: what the holder (or a VM's agent) would
 * be, in memory. It "runs" spawned processes until they are signalled, journals
 * their exits to a real journal file (the format the holder writes), and can
 * die or stop answering on demand. It outlives a daemon "restart" (a new
 * sandboxer connects to it again), as a holder outlives kuasard.
 */
export class FakeSupervisor {
  alive = true;
  /** Whether connections are accepted (false: alive but unreachable). */
  reachable = true;
  readonly processes = new Map<number, FakeProcess>();
  /** Every mount(2) and umount asked for, in order (nothing is mounted). */
  readonly mountCalls: (MountCall | { umount: string })[] = [];
  /** Whether mount(2) is refused (PermissionDenied, as the holder maps EPERM). */
  failMounts = false;
  /** Every signal delivered, in order: `[pid, signal]`. */
  readonly signals: [number, number][] = [];
  private nextPid = 1000;
  private agent: FakeAgent | undefined;

  constructor(
    /** Where exits are journaled (the pod's journal path). */
    readonly journalPath: string,
  ) {}

  /** A new connection (the previous one, if any, is left to its owner). */
  connect(): FakeAgent {
    if (!this.alive || !this.reachable) throw new RuntimeError(Code.Unavailable, "fake supervisor: connection refused");
    this.agent = new FakeAgent(this);
    return this.agent;
  }

  spawn(o: HolderSpawnOptions): number {
    if (!this.alive) throw new RuntimeError(Code.Unavailable, "fake supervisor: dead");
    const pid = this.nextPid++;
    this.processes.set(pid, { id: o.id, argv: [...o.argv] });
    // `exit:N` runs and exits N at once, as a short-lived process would.
    const quick = /^exit:(\d+)$/.exec(o.argv[0] ?? "");
    if (quick) setImmediate(() => this.exit(pid, Number(quick[1])));
    return pid;
  }

  /** Delivers `signal`: `ignore-term` processes ignore SIGTERM; anything else ends with 128+signal. */
  signal(pid: number, signal: number): void {
    if (!this.processes.has(pid)) throw new RuntimeError(Code.NotFound, `fake supervisor: no process ${pid}`);
    this.signals.push([pid, signal]);
    if (signal === 15 && this.processes.get(pid)!.argv.includes("ignore-term")) return;
    if (signal !== 0) setImmediate(() => this.exit(pid, 128 + signal));
  }

  /** Reaps `pid` with `status`: journaled first, then reported on the live connection. */
  exit(pid: number, status: number): void {
    const p = this.processes.get(pid);
    if (!p || !this.alive) return;
    this.processes.delete(pid);
    const now = Date.now();
    const line = `${pid} ${status} ${Math.floor(now / 1000)} ${(now % 1000) * 1_000_000} ${p.id}\n`;
    appendFileSync(this.journalPath, line);
    const e = parseJournal(line)[0]!;
    this.agent?.emit("exit", e);
  }

  /** Shutdown: SIGKILLs and journals what is left, then exits (the connection closes). */
  shutdown(): void {
    for (const pid of [...this.processes.keys()]) this.exit(pid, 137);
    this.die(false);
  }

  /** The connection breaks (the supervisor lives on). */
  breakConnection(): void {
    const a = this.agent;
    this.agent = undefined;
    a?.dropped(new RuntimeError(Code.Unavailable, "fake supervisor: connection reset"));
  }

  /** Dies (kill -9, a VM crash): its processes die with it, unjournaled; the connection drops. */
  die(withError = true): void {
    this.alive = false;
    this.processes.clear();
    const a = this.agent;
    this.agent = undefined;
    a?.dropped(withError ? new RuntimeError(Code.Unavailable, "fake supervisor died") : undefined);
  }
}

/** A connection to a {@link FakeSupervisor}, shaped as the core sees a holder client. */
export class FakeAgent extends EventEmitter<HolderClientEvents> implements PodAgent {
  private open = true;

  constructor(private readonly sup: FakeSupervisor) {
    super();
  }

  async spawn(options: HolderSpawnOptions): Promise<number> {
    this.check();
    return this.sup.spawn(options);
  }

  async write(): Promise<void> {
    this.check();
  }

  onOutput(fn: (id: string, fd: number, data: Buffer) => void): () => void {
    this.on("output", fn);
    return () => this.off("output", fn);
  }

  onEof(fn: (id: string, fd: number) => void): () => void {
    this.on("eof", fn);
    return () => this.off("eof", fn);
  }

  async closeStdin(): Promise<void> {
    this.check();
  }

  async resize(): Promise<void> {
    this.check();
  }

  async adopt(): Promise<void> {
    this.check();
  }

  /** A real FIFO: the code under test opens what it asked for. */
  /** Members joined (pids), in order. */
  readonly members: number[] = [];

  async member(pid: number): Promise<void> {
    this.check();
    this.members.push(pid);
  }

  async mkfifo(path: string): Promise<void> {
    this.check();
    execFileSync("mkfifo", ["-m", "0600", path]);
  }

  async mount(m: MountCall): Promise<void> {
    this.check();
    if (this.sup.failMounts) throw new RuntimeError(Code.PermissionDenied, `fake: mount ${m.target} refused`);
    this.sup.mountCalls.push(m);
  }

  async umount(target: string): Promise<void> {
    this.check();
    this.sup.mountCalls.push({ umount: target });
  }

  /** The guest setup verbs: refused as a host holder refuses them (only a guest's pid 1 serves them). */
  async access(): Promise<void> {
    this.guestOnly();
  }

  async setHostname(): Promise<void> {
    this.guestOnly();
  }

  async linkUp(): Promise<void> {
    this.guestOnly();
  }

  async addAddress(): Promise<void> {
    this.guestOnly();
  }

  async addRoute(): Promise<void> {
    this.guestOnly();
  }

  async sysctl(): Promise<void> {
    this.guestOnly();
  }

  async startExecFifo(): Promise<void> {
    this.guestOnly();
  }

  private guestOnly(): never {
    this.check();
    throw new RuntimeError(Code.PermissionDenied, "fake holder: only a VM guest's agent (pid 1) sets up its machine");
  }

  async kill(pid: number, signal: number | NodeJS.Signals): Promise<void> {
    this.check();
    this.sup.signal(pid, typeof signal === "number" ? signal : 9);
  }

  async exits(): Promise<HolderExit[]> {
    this.check();
    return [];
  }

  async ping(): Promise<{ pid: number; podInitPid: number | undefined }> {
    this.check();
    return { pid: 0, podInitPid: undefined };
  }

  async shutdown(): Promise<void> {
    this.check();
    this.sup.shutdown();
  }

  async close(): Promise<void> {
    this.dropped(undefined);
  }

  /** The connection ends (with `err` when it broke). */
  dropped(err: RuntimeError | undefined): void {
    if (!this.open) return;
    this.open = false;
    this.emit("close", err);
  }

  private check(): void {
    if (!this.open) throw new RuntimeError(Code.Unavailable, "fake supervisor: connection closed");
  }
}
