import { createWriteStream, type WriteStream } from "node:fs";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { Logger } from "../log/logger.js";
import { podPhaseChannel, type PodPhase } from "../diagnostics/pod-phase-channel.js";
import { rpcCallChannel, type RpcCall } from "../diagnostics/rpc-call-channel.js";

/** One line of the phase log: a finished pod phase or a served RPC. */
export type PhaseLogLine =
  | { readonly at: number; readonly what: "pod"; readonly kind: string; readonly phase: string; readonly ms: number; readonly ok: boolean }
  | { readonly at: number; readonly what: "rpc"; readonly api: string; readonly method: string; readonly ms: number; readonly code: number };

const ms = (startedNs: bigint): number => Math.round(Number(process.hrtime.bigint() - startedNs) / 1e4) / 100;

/**
 * Appends one JSON line per finished pod phase and per RPC answered to a file (`phase_log`):
 * how long each step took inside kuasard, for the benchmark and for finding where calls wait
 * on each other. `at` is the wall-clock end (ms since the epoch), so lines can be windowed.
 */
export class PhaseLog {
  readonly #out: WriteStream;
  readonly #onCall: (m: unknown) => void;
  readonly #onPhase: (m: unknown) => void;

  constructor(path: string, log: Logger) {
    this.#out = createWriteStream(path, { flags: "a" });
    this.#out.on("error", (err) => log.warn({ err, path }, "phase log not written"));
    this.#onPhase = (m) => {
      const p = m as PodPhase;
      this.#write({ at: Date.now(), what: "pod", kind: p.kind, phase: p.phase, ms: Math.round(p.seconds * 1e5) / 100, ok: p.ok });
    };
    this.#onCall = (m) => {
      const c = m as RpcCall;
      const started = process.hrtime.bigint();
      c.onEnd.push((code) => this.#write({ at: Date.now(), what: "rpc", api: c.api, method: c.method, ms: ms(started), code }));
    };
    subscribe(podPhaseChannel.name, this.#onPhase);
    subscribe(rpcCallChannel.name, this.#onCall);
  }

  #write(line: PhaseLogLine): void {
    this.#out.write(`${JSON.stringify(line)}\n`);
  }

  /** Stops listening and flushes the file. */
  async close(): Promise<void> {
    unsubscribe(podPhaseChannel.name, this.#onPhase);
    unsubscribe(rpcCallChannel.name, this.#onCall);
    await new Promise<void>((r) => this.#out.end(r));
  }
}
