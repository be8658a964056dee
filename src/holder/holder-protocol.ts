/**
 * The pod holder's control protocol (`native/holder/protocol.h`, whose constants and
 * names reach TypeScript through the generated `src/gen/holder-protocol.ts`): a pure
 * codec, bytes in and messages out (no sockets, timers or logs).
 *
 * ```
 *  0               4
 *  +---------------+------------------------------------------------+
 *  | length (BE32) | payload: NUL-terminated strings (length bytes) |
 *  +---------------+------------------------------------------------+
 * ```
 * The first string is the verb, the second the request id, echoed by the reply.
 * Replies come in request order, one per request; events (request id {@link UNSOLICITED_RID})
 * may come between them.
 *
 * Transports: `<dir>/holder.sock` (any number of clients), or one byte stream the
 * holder serves with `--serve-port PATH|fd:N` (a guest VM's virtio-serial port, which
 * QEMU exposes on the host as a unix socket: `HolderClient.connectSocket`). When
 * the host side of a port disconnects, the holder drops that connection's partial
 * request and unsent replies/events, holds streamed output back for the next connection
 * (which gets it at once: listen for output before anything else), and the journal
 * (`exits`) has every exit missed meanwhile. Bytes in flight when the host leaves are
 * lost; a host that sees a protocol error or a request time out should reconnect.
 *
 * | request | reply values |
 * |---|---|
 * | `spawn ID CWD STDIN STDOUT STDERR FLAGS ARGC ARG... ENVC ENV...` | `PID` |
 * | `write RID ID DATA` (DATA base64, queued for ID's streamed stdin; EAGAIN when full) | |
 * | `closestdin ID` | |
 * | `resize ID COLS ROWS` | |
 * | `adopt ID PID` | |
 * | `kill RID PID SIG` | |
 * | `exits RID` | `JOURNAL` (whole, at most {@link MAX_EXITS_LENGTH}) |
 * | `exits RID OFFSET` | `JOURNAL-SLICE NEXT-OFFSET` (whole lines, at most {@link EXITS_CHUNK_LENGTH}) |
 * | `ping RID` | `HOLDERPID PODINITPID` |
 * | `shutdown RID` | (then the holder exits; as a guest's pid 1 it syncs and powers off) |
 *
 * Failures: `err RID ERRNO MESSAGE`.
 *
 * | event | meaning |
 * |---|---|
 * | `exit 0 PID STATUS SEC NSEC ID` | a process was reaped (and journaled); to every client |
 * | `out 0 ID FD DATA` | output of a streamed stdout (FD 1) or stderr (2), DATA base64 of at most {@link STREAM_CHUNK_LENGTH} bytes |
 * | `eof 0 ID FD` | that output reached EOF; before ID's exit when its pipes closed before the reap |
 *
 * Streamed stdio: a spawn STDIN/STDOUT/STDERR of {@link STREAM} gives the process a pipe
 * held by the holder (with a terminal: STDOUT streams the terminal, STDIN writes to it).
 * Output goes to the connection that sent the spawn; it is not read from the pipe while
 * more than {@link STREAM_TX_HIGH} bytes wait to be sent there (back-pressure).
 */

import { ChunkQueue } from "../bytes/chunk-queue.js";
import { Event, HEADER_LENGTH, MAX_REPLY_LENGTH, MAX_REQUEST_LENGTH, Reply, STREAM, STREAM_CHUNK_LENGTH, UNKNOWN_ID, Verb } from "../gen/holder-protocol.js";

// The constants and names come from native/holder/protocol.h, through the generated module.
export {
  EXITS_CHUNK_LENGTH,
  Event,
  HEADER_LENGTH,
  MAX_EXITS_LENGTH,
  MAX_REPLY_LENGTH,
  MAX_REQUEST_LENGTH,
  PODINIT_ID,
  Reply,
  STDIN_QUEUE_LENGTH,
  STREAM,
  STREAM_CHUNK_LENGTH,
  STREAM_TX_HIGH,
  UNKNOWN_ID,
  UNSOLICITED_RID,
  Verb,
} from "../gen/holder-protocol.js";

/** errno of a `write` refused because the stdin queue is full: retry later (Linux numbering, as every ERRNO). */
export const EAGAIN = 11;

/** Raised for a payload that is not a well-formed message. */
export class MalformedMessageError extends Error {
  override readonly name = "MalformedMessageError";
}

/** Raised by {@link MessageDecoder} when a length prefix announces more than its maximum. */
export class OversizeMessageError extends Error {
  override readonly name = "OversizeMessageError";
  constructor(
    readonly length: number,
    readonly maxLength: number,
  ) {
    super(`holder message length ${length} exceeds the maximum of ${maxLength}`);
  }
}

/**
 * Encodes one message. Throws {@link MalformedMessageError} for a string holding a
 * NUL and {@link OversizeMessageError} above `maxLength` (default: what the holder reads).
 */
export function encodeMessage(fields: readonly string[], maxLength: number = MAX_REQUEST_LENGTH): Buffer {
  const parts = fields.map((f) => {
    if (f.includes("\0")) throw new MalformedMessageError("holder message strings may not contain NUL");
    return Buffer.from(f, "utf8");
  });
  const length = parts.reduce((n, p) => n + p.length + 1, 0);
  if (length > maxLength) throw new OversizeMessageError(length, maxLength);
  const out = Buffer.alloc(HEADER_LENGTH + length);
  out.writeUInt32BE(length, 0);
  let off = HEADER_LENGTH;
  for (const p of parts) {
    out.set(p, off);
    off += p.length + 1; // the NUL is already there (alloc zero-fills)
  }
  return out;
}

/** Splits a payload into its strings. Every string, the last included, must end with NUL. */
export function decodeFields(payload: Uint8Array): string[] {
  if (payload.length === 0) return [];
  if (payload[payload.length - 1] !== 0) throw new MalformedMessageError("holder message does not end with NUL");
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  const fields: string[] = [];
  let start = 0;
  for (let i = buf.indexOf(0, start); i !== -1; i = buf.indexOf(0, start)) {
    fields.push(buf.toString("utf8", start, i));
    start = i + 1;
  }
  return fields;
}

/**
 * Incremental decoder: feed arbitrary chunks (split or merged messages), get whole
 * payloads back. An oversize length is rejected from the prefix alone, before any of
 * its payload is buffered.
 */
export class MessageDecoder {
  private readonly queue = new ChunkQueue();

  /** @param maxLength largest payload accepted; default {@link MAX_REPLY_LENGTH} (a client reading replies). */
  constructor(readonly maxLength: number = MAX_REPLY_LENGTH) {}

  /** Bytes held waiting for the rest of a message. */
  get pending(): number {
    return this.queue.length;
  }

  /** Appends `chunk` and returns every payload now complete, in order. */
  push(chunk: Uint8Array): Buffer[] {
    this.queue.push(chunk);
    const out: Buffer[] = [];
    while (this.queue.length >= HEADER_LENGTH) {
      const length = this.queue.peek(HEADER_LENGTH).readUInt32BE(0);
      if (length > this.maxLength) throw new OversizeMessageError(length, this.maxLength);
      if (this.queue.length < HEADER_LENGTH + length) break;
      out.push(this.queue.take(HEADER_LENGTH + length).subarray(HEADER_LENGTH));
    }
    return out;
  }
}

/** One reaped process, from an exit event or a journal line. */
export interface HolderExit {
  /** Host pid. */
  readonly pid: number;
  /** Exit code, or 128+signal when killed by a signal (containerd's convention). */
  readonly status: number;
  /** When the holder reaped it (millisecond precision; see `seconds`/`nanos` for the exact value). */
  readonly exitedAt: Date;
  /** Whole seconds of the reap time since the epoch (a protobuf Timestamp's `seconds`). */
  readonly seconds: bigint;
  /** Nanoseconds within that second (a protobuf Timestamp's `nanos`). */
  readonly nanos: number;
  /** The spawn/adopt ID it was reported under; undefined for an unknown process. */
  readonly id: string | undefined;
}

/** A chunk of streamed output (`out` event). */
export interface HolderOutput {
  /** The spawn ID. */
  readonly id: string;
  /** 1 (stdout, or the terminal) or 2 (stderr). */
  readonly fd: number;
  readonly data: Buffer;
}

/** What a payload from the holder is: a reply or an event. */
export type HolderMessage =
  | { readonly kind: "ok"; readonly id: string; readonly values: readonly string[] }
  | { readonly kind: "err"; readonly id: string; readonly errno: number; readonly message: string }
  | { readonly kind: "exit"; readonly exit: HolderExit }
  | { readonly kind: "out"; readonly output: HolderOutput }
  | { readonly kind: "eof"; readonly id: string; readonly fd: number };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict base64 (standard alphabet, padded): Buffer.from alone would accept anything. */
export function decodeBase64(s: string): Buffer {
  if (!BASE64.test(s)) throw new MalformedMessageError(`holder message: DATA is not base64 (${s.length} characters)`);
  return Buffer.from(s, "base64");
}

function streamFd(s: string | undefined): number {
  const fd = int(s, "FD");
  if (fd !== 1 && fd !== 2) throw new MalformedMessageError(`holder message: FD ${fd} is not 1 or 2`);
  return fd;
}

const DECIMAL = /^-?[0-9]{1,18}$/;

function int(s: string | undefined, what: string): number {
  if (s === undefined || !DECIMAL.test(s)) throw new MalformedMessageError(`holder message: ${what} is not a number: ${JSON.stringify(s)}`);
  return Number(s);
}

function exitFrom(pid: string | undefined, status: string | undefined, sec: string | undefined, nsec: string | undefined, id: string | undefined): HolderExit {
  const nanos = int(nsec, "NSEC");
  const seconds = BigInt(int(sec, "SEC"));
  if (nanos < 0 || nanos > 999_999_999) throw new MalformedMessageError(`holder message: NSEC out of range: ${nanos}`);
  return {
    pid: int(pid, "PID"),
    status: int(status, "STATUS"),
    exitedAt: new Date(Number(seconds) * 1000 + Math.floor(nanos / 1e6)),
    seconds,
    nanos,
    id: id === undefined || id === UNKNOWN_ID ? undefined : id,
  };
}

/** Classifies one payload from the holder. Throws {@link MalformedMessageError} for anything else. */
export function parseMessage(payload: Uint8Array): HolderMessage {
  const [verb, id, ...rest] = decodeFields(payload);
  if (id === undefined) throw new MalformedMessageError("holder message without a request id");
  switch (verb) {
    case Reply.Ok:
      return { kind: "ok", id, values: rest };
    case Reply.Err:
      return { kind: "err", id, errno: int(rest[0], "ERRNO"), message: rest[1] ?? "" };
    case Event.Exit:
      if (rest.length !== 5) throw new MalformedMessageError(`holder exit event with ${rest.length + 2} strings, expected 7`);
      return { kind: "exit", exit: exitFrom(rest[0], rest[1], rest[2], rest[3], rest[4]) };
    case Event.Out:
      if (rest.length !== 3) throw new MalformedMessageError(`holder out event with ${rest.length + 2} strings, expected 5`);
      return { kind: "out", output: { id: rest[0]!, fd: streamFd(rest[1]), data: decodeBase64(rest[2]!) } };
    case Event.Eof:
      if (rest.length !== 2) throw new MalformedMessageError(`holder eof event with ${rest.length + 2} strings, expected 4`);
      return { kind: "eof", id: rest[0]!, fd: streamFd(rest[1]) };
    default:
      throw new MalformedMessageError(`unknown holder message ${JSON.stringify(verb)}`);
  }
}

/** What to launch: the `spawn` request. */
export interface SpawnRequest {
  /** Key the process is known by (its exits are journaled under it): no whitespace, not `-`, not starting with `:`. */
  readonly id: string;
  /** Working directory; `""` keeps the holder's (`/`). */
  readonly cwd: string;
  /** FIFO the holder pumps into the process's stdin pipe (or terminal); `""` = /dev/null; {@link STREAM}: `write` requests. */
  readonly stdin: string;
  /**
   * FIFO (with a reader) or file (appended) for stdout; `""` = /dev/null; {@link STREAM}: `out` events.
   * With a terminal: where its output goes.
   */
  readonly stdout: string;
  /** As `stdout`, for stderr; unused with a terminal. */
  readonly stderr: string;
  /** Unix socket path the holder listens on for the terminal master (runc `--console-socket`). */
  readonly console?: string | undefined;
  /** argv; `argv[0]` is the absolute path executed. */
  readonly argv: readonly string[];
  /** The whole environment, `NAME=value` strings, passed exactly. */
  readonly env: readonly string[];
}

/** Encodes a `spawn` request (the request id is the spawn's ID). */
export function encodeSpawn(req: SpawnRequest): Buffer {
  const flags = req.console !== undefined ? [`console=${req.console}`] : [];
  if (flags.some((f) => f.includes(","))) throw new MalformedMessageError("console socket path may not contain ','");
  return encodeMessage([
    Verb.Spawn,
    req.id,
    req.cwd,
    req.stdin,
    req.stdout,
    req.stderr,
    flags.join(","),
    String(req.argv.length),
    ...req.argv,
    String(req.env.length),
    ...req.env,
  ]);
}

/** Encodes a `write` request: `data` (at most {@link STREAM_CHUNK_LENGTH} bytes) for the streamed stdin of `id`. */
export function encodeWrite(rid: string, id: string, data: Uint8Array): Buffer {
  if (data.length > STREAM_CHUNK_LENGTH) throw new OversizeMessageError(data.length, STREAM_CHUNK_LENGTH);
  return encodeMessage([Verb.Write, rid, id, Buffer.from(data.buffer, data.byteOffset, data.length).toString("base64")]);
}

/**
 * Parses the exit journal (`DIR/exits`, or the `exits` reply): `PID STATUS SEC NSEC ID\n` per line.
 * A torn last line (no newline: the holder died mid-write) and malformed lines are skipped.
 * A pid can appear twice when an exit was journaled as unknown and then adopted: the later line wins.
 */
export function parseJournal(text: string): HolderExit[] {
  const out: HolderExit[] = [];
  const lines = text.split("\n");
  lines.pop(); // "" after the final newline, or a torn line
  for (const line of lines) {
    const f = line.split(" ");
    if (f.length !== 5) continue;
    try {
      out.push(exitFrom(f[0], f[1], f[2], f[3], f[4]));
    } catch {
      // skip the line
    }
  }
  return out;
}
