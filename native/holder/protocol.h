/*
 * The holder's control protocol (mirrored by src/holder/holder-protocol.ts).
 *
 * Framing: a 4-byte big-endian payload length, then the payload: a sequence of
 * NUL-terminated strings. A request longer than HOLDER_MAX_REQUEST closes the
 * connection (a port: resets it as if the host had reconnected); other malformed
 * requests get an `err` reply.
 *
 * Transports: DIR/holder.sock (unix stream, any number of clients), or with
 * `--serve-port PATH|fd:N` one byte stream (a virtio-serial port in a guest VM)
 * that is the only client. A port whose read returns 0 (or EIO), or that polls
 * POLLHUP, is "host disconnected": the partial request and every unsent reply or
 * event are dropped, streamed output is held back (pipe back-pressure), and the
 * port is re-checked every HOLDER_PORT_RECHECK_MS until POLLHUP clears. Exits
 * missed meanwhile are in the journal (`exits`); held output goes to the next
 * connection. Bytes in flight when the host leaves are lost with it, and a host
 * that leaves and returns faster than the holder polls is not noticed: a host
 * that sees a malformed reply or a request time out should reconnect.
 *
 * Requests (the second string is echoed by the reply; replies come in request
 * order, one per request):
 *
 *   spawn ID CWD STDIN STDOUT STDERR FLAGS ARGC ARG... ENVC ENV...  -> ok ID PID
 *   write RID ID DATA                                               -> ok RID
 *   closestdin ID                                                   -> ok ID
 *   resize ID COLS ROWS                                             -> ok ID
 *   adopt ID PID                                                    -> ok ID
 *   kill RID PID SIG                                                -> ok RID
 *   exits RID                                                       -> ok RID JOURNAL
 *   exits RID OFFSET                                                -> ok RID SLICE NEXTOFFSET
 *   ping RID                                                        -> ok RID HOLDERPID PODINITPID
 *   shutdown RID                                                    -> ok RID (then the holder exits;
 *                                                                      as pid 1 it syncs and powers off)
 *
 * Any request may fail with `err RID ERRNO MESSAGE` (ERRNO decimal, Linux numbering).
 *
 * Streamed stdio: a spawn STDIN/STDOUT/STDERR of exactly HOLDER_STREAM (":stream";
 * paths are absolute, so it cannot be one) gives the process a pipe held by the
 * holder. With a terminal (FLAGS console=PATH), STDOUT ":stream" streams the
 * terminal's output as fd 1 and STDIN ":stream" writes to the terminal; STDERR
 * is unused. `write` appends DATA (standard padded base64) to the stdin queue of
 * ID (at most HOLDER_STDIN_MAX bytes queued: beyond it `err RID 11` (EAGAIN),
 * retry later; ENOENT: no process ID; EPIPE: no open streamed stdin, or its reader
 * is gone; EINVAL: DATA is not base64); `closestdin ID` closes it once the queue
 * is written (a terminal stays open: only the streaming stops). Output goes
 * to the connection that sent the spawn (socket mode: discarded once that
 * connection is gone; port mode: held while the host is away), as events of at
 * most HOLDER_STREAM_CHUNK raw bytes, and is not read while more than
 * HOLDER_STREAM_TX_HIGH bytes wait to be sent to that connection.
 *
 * Events (request id "0"):
 *
 *   exit 0 PID STATUS SEC NSEC ID       to every client, after the exit is journaled
 *                                       (STATUS: exit code, or 128+signal; ID "-" if unknown)
 *   out 0 ID FD DATA                    output of a streamed fd (1 or 2), DATA base64
 *   eof 0 ID FD                         that output reached EOF (every writer closed); sent
 *                                       before ID's exit when the pipes close before the reap
 *
 * Journal DIR/exits: one line per reaped process, `PID STATUS SEC NSEC ID\n`.
 */
#ifndef KUASAR_HOLDER_PROTOCOL_H
#define KUASAR_HOLDER_PROTOCOL_H

/* Largest request payload the holder reads: 1 MiB. */
#define HOLDER_MAX_REQUEST (1u << 20)
/* Largest journal `exits RID` (no OFFSET) returns; beyond it the reply is EFBIG. */
#define HOLDER_MAX_EXITS (16u << 20)
/* Largest journal slice `exits RID OFFSET` returns (whole lines only). */
#define HOLDER_EXITS_CHUNK (1u << 20)
/* Largest reply payload: a full journal plus the echoed request id. */
#define HOLDER_MAX_REPLY (HOLDER_MAX_EXITS + HOLDER_MAX_REQUEST + 64u)
/* Journal/event ID of the pod's pid-1 (`--new-pid`); client IDs may not start with ':'. */
#define HOLDER_PODINIT_ID ":podinit"
/* spawn STDIN/STDOUT/STDERR value: a pipe streamed over the protocol. */
#define HOLDER_STREAM ":stream"
/* Largest raw output chunk of one `out` event: 48 KiB (64 KiB of base64). */
#define HOLDER_STREAM_CHUNK (48u << 10)
/* Largest stdin queue of one process: `write` beyond it is EAGAIN. */
#define HOLDER_STDIN_MAX (1u << 20)
/* Streamed output is not read while more than this waits to be sent to its connection. */
#define HOLDER_STREAM_TX_HIGH (1u << 20)
/* How often a disconnected port is re-checked. */
#define HOLDER_PORT_RECHECK_MS 100

#endif
