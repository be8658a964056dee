import { constants, createWriteStream, fstatSync, openSync, closeSync, type WriteStream } from "node:fs";
import { Socket } from "node:net";
import type { PodAgent } from "../../holder/pod-agent.js";
import type { Logger } from "../../log/logger.js";
import type { OutputKeeper } from "../../task/output-keeper.js";
import type { Stdio } from "../../task/task-backend.js";

/** How long an exit waits for its output to be fully relayed before it is published, in ms. */
const DRAIN_MS = 3_000;

type Sink = Socket | WriteStream;

/**
 * One guest process's stdio on the host: output the agent streams is written
 * to containerd's FIFOs (or files), containerd's stdin FIFO is read and sent to
 * the agent. Output FIFOs are closed when the agent reports their EOF, which
 * is when containerd's readers see the end of the stream; until then the output
 * keeper holds a second write end, so a kuasard restart does not end the stream.
 */
export class StdioRelay {
  private readonly sinks = new Map<number, Sink>();
  private readonly open = new Set<number>();
  private stdin: Socket | undefined;
  private drainWaiters: (() => void)[] = [];

  constructor(
    readonly spawnId: string,
    private readonly stdio: Stdio,
    private readonly agent: () => PodAgent | undefined,
    private readonly log: Logger,
    private readonly keeper: OutputKeeper,
  ) {
    if (stdio.stdout) this.open.add(1);
    if (stdio.stderr && !stdio.terminal) this.open.add(2);
  }

  /** Opens the outputs (containerd's readers see a writer, as with a local process) and forwards stdin. */
  start(): void {
    for (const fd of [...this.open]) this.sink(fd);
    if (!this.stdio.stdin || this.stdin) return;
    let fd: number;
    try {
      fd = openSync(this.stdio.stdin, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      this.log.warn({ err, path: this.stdio.stdin }, "cannot open stdin");
      return;
    }
    const s = new Socket({ fd, readable: true, writable: false });
    this.stdin = s;
    s.on("data", (chunk: Buffer) => {
      s.pause();
      const a = this.agent();
      if (!a) return void s.destroy();
      a.write(this.spawnId, chunk).then(
        () => s.resume(),
        (err: unknown) => {
          this.log.warn({ err }, "stdin write to the guest failed");
          s.destroy();
        },
      );
    });
    s.on("end", () => void this.agent()?.closeStdin(this.spawnId).catch(() => {}));
    s.on("error", () => {});
  }

  /** Output from the agent. */
  output(fd: number, data: Buffer): void {
    if (!this.open.has(fd)) return;
    this.sink(fd)?.write(data);
  }

  /** The agent saw the end of `fd`. */
  eof(fd: number): void {
    if (!this.open.delete(fd)) return;
    const s = this.sinks.get(fd);
    this.sinks.delete(fd);
    // The keeper lets go only after our last bytes are in the FIFO: then the reader sees the end.
    if (s) s.end(() => this.release(fd));
    else this.release(fd);
    if (this.open.size === 0) for (const w of this.drainWaiters.splice(0)) w();
  }

  /** Resolves when every output reached EOF, or after a bound (a leaked writer in the guest must not hold the exit back). */
  drained(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, DRAIN_MS);
      this.drainWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Drops everything; containerd's FIFOs stay. `release`: the process is gone (removed, or
   * its VM), so the keeper lets go of its outputs too; a daemon closing keeps them held.
   */
  close(release = true): void {
    this.stdin?.destroy();
    for (const s of this.sinks.values()) s.destroy();
    this.sinks.clear();
    // Outputs that reached EOF were released then; the rest are let go now.
    if (release) for (const fd of this.open) this.release(fd);
    for (const w of this.drainWaiters.splice(0)) w();
  }

  /** The FIFO paths this relay writes (for the keeper). */
  outputPaths(): string[] {
    return [this.pathOf(1), this.pathOf(2)].filter((p) => p !== "");
  }

  /** Where output `fd` goes; "" for none (stderr of a terminal goes with stdout). */
  private pathOf(fd: number): string {
    return fd === 1 ? this.stdio.stdout : this.stdio.terminal ? "" : this.stdio.stderr;
  }

  private release(fd: number): void {
    const path = this.pathOf(fd);
    if (path) this.keeper.release(path).catch((err: unknown) => this.log.warn({ err, path }, "cannot release a held output"));
  }

  private sink(fd: number): Sink | undefined {
    let s = this.sinks.get(fd);
    if (s) return s;
    const path = this.pathOf(fd);
    try {
      const f = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_APPEND);
      if (fstatSync(f).isFIFO()) {
        s = new Socket({ fd: f, readable: false, writable: true });
        this.keeper.hold(path).catch((err: unknown) => this.log.warn({ err, path }, "cannot hold the output open across a restart"));
      } else {
        closeSync(f);
        s = createWriteStream(path, { flags: "a" });
      }
    } catch (err) {
      this.log.warn({ err, path }, "cannot open output; dropping it");
      this.open.delete(fd);
      return undefined;
    }
    s.on("error", (err: Error) => this.log.debug({ err, path }, "output closed by its reader"));
    this.sinks.set(fd, s);
    return s;
  }
}
