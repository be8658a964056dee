/*
 * The holder's control protocol. The single source of its constants and names:
 * `npm run generate` (packaging/gen-holder-protocol.mjs) writes them to
 * src/gen/holder-protocol.ts, HOLDER_X as X, HOLDER_VERB_CLOSE_STDIN as Verb.CloseStdin
 * (likewise Reply and Event); integers are decimal literals, `<<`, `+`, `*`, parentheses
 * and earlier names, strings are string literals.
 *
 * Framing: a 4-byte big-endian payload length, then the payload: a sequence of
 * NUL-terminated strings. A request longer than HOLDER_MAX_REQUEST_LENGTH closes the
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
 *   mkfifo RID PATH                                                 -> ok RID (a FIFO, mode 0600)
 *   member RID PID                                                  -> ok RID (PID, made elsewhere and in
 *                                                                      the holder's net, IPC and UTS
 *                                                                      namespaces, and its descendants are
 *                                                                      the pod's: kill, shutdown)
 *   mount RID SOURCE TARGET FSTYPE FLAGS DATA CWD                   -> ok RID (mount(2); FLAGS: MS_* bits,
 *                                                                      decimal; empty SOURCE/FSTYPE/DATA: NULL;
 *                                                                      CWD: where DATA's relative paths start)
 *   umount RID TARGET                                               -> ok RID (umount2(2), detached if busy)
 *   restored RID SEC NSEC SEED DIR                                  -> ok RID (a guest restored from a VM
 *                                                                      template: sets the clock to SEC.NSEC,
 *                                                                      credits SEED (base64, <= 512 bytes) to
 *                                                                      the RNG and reseeds it, and moves DIR
 *                                                                      (if not empty) with the journal)
 *   access RID PATH                                                 -> ok RID (PATH is executable)
 *   hostname RID NAME                                               -> ok RID (sethostname(2))
 *   linkup RID IFNAME MTU                                           -> ok RID (MTU set, link up; ENODEV:
 *                                                                      no such link yet, ask again)
 *   addradd RID IFNAME ADDRESS/PREFIX                               -> ok RID (IPv4 or IPv6; EEXIST: there)
 *   routeadd RID IFNAME FAMILY DST GATEWAY SCOPE                    -> ok RID (FAMILY 4|6; DST `default` or
 *                                                                      ADDRESS[/PREFIX]; GATEWAY, SCOPE
 *                                                                      (ip(8)'s names) may be empty: none,
 *                                                                      ip(8)'s default; EEXIST: there)
 *   sysctl RID KEY VALUE                                            -> ok RID (writes /proc/sys/KEY)
 *   fifostart RID PATH                                              -> ok RID (a container crun created
 *                                                                      started: PATH, its exec.fifo, opened
 *                                                                      for writing without blocking, removed,
 *                                                                      one byte written; ENXIO: no reader)
 *
 * access ... sysctl set up a VM guest's machine for its pod; fifostart starts a container in it:
 * only a guest's pid 1 serves them (any other holder answers EPERM).
 *
 * Any request may fail with `err RID ERRNO MESSAGE` (ERRNO decimal, Linux numbering).
 *
 * Streamed stdio: a spawn STDIN/STDOUT/STDERR of exactly HOLDER_STREAM (":stream";
 * paths are absolute, so it cannot be one) gives the process a pipe held by the
 * holder. With a terminal (FLAGS console=PATH), STDOUT ":stream" streams the
 * terminal's output as fd 1 and STDIN ":stream" writes to the terminal; STDERR
 * is unused. `write` appends DATA (standard padded base64) to the stdin queue of
 * ID (at most HOLDER_STDIN_QUEUE_LENGTH bytes queued: beyond it `err RID 11` (EAGAIN),
 * retry later; ENOENT: no process ID; EPIPE: no open streamed stdin, or its reader
 * is gone; EINVAL: DATA is not base64); `closestdin ID` closes it once the queue
 * is written (a terminal stays open: only the streaming stops). Output goes
 * to the connection that sent the spawn (socket mode: discarded once that
 * connection is gone; port mode: held while the host is away), as events of at
 * most HOLDER_STREAM_CHUNK_LENGTH raw bytes, and is not read while more than
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

/* Size of the big-endian length prefix of every message. */
#define HOLDER_HEADER_LENGTH 4
/* Largest request payload the holder reads (1 MiB); a longer one closes the connection. */
#define HOLDER_MAX_REQUEST_LENGTH (1u << 20)
/* Largest journal `exits RID` (no OFFSET) returns (16 MiB); beyond it the reply is EFBIG. */
#define HOLDER_MAX_EXITS_LENGTH (16u << 20)
/* Largest journal slice `exits RID OFFSET` returns (1 MiB, whole lines only). */
#define HOLDER_EXITS_CHUNK_LENGTH (1u << 20)
/* Largest reply payload: a full journal plus the echoed request id. */
#define HOLDER_MAX_REPLY_LENGTH (HOLDER_MAX_EXITS_LENGTH + HOLDER_MAX_REQUEST_LENGTH + 64u)
/* Largest raw chunk of one `out` event or one `write` request (48 KiB; 64 KiB of base64). */
#define HOLDER_STREAM_CHUNK_LENGTH (48u << 10)
/* Largest stdin queue of one process (1 MiB): a `write` beyond it is EAGAIN. */
#define HOLDER_STDIN_QUEUE_LENGTH (1u << 20)
/* Streamed output is not read while more than this (1 MiB) waits to be sent to its connection. */
#define HOLDER_STREAM_TX_HIGH (1u << 20)
/* How often a disconnected port is re-checked, in milliseconds. */
#define HOLDER_PORT_RECHECK_MS 100

/* Request id (RID) of unsolicited messages: the events. */
#define HOLDER_UNSOLICITED_RID "0"
/* Journal/event ID of a reaped process the holder did not know (an orphan nobody adopted). */
#define HOLDER_UNKNOWN_ID "-"
/* Journal/event ID of the pod's pid-1 (`--new-pid`); client IDs may not start with ':'. */
#define HOLDER_PODINIT_ID ":podinit"
/* spawn STDIN/STDOUT/STDERR value: a pipe streamed over the protocol (`write`, `out`/`eof` events). */
#define HOLDER_STREAM ":stream"

/* Request verbs. */
#define HOLDER_VERB_SPAWN "spawn"
#define HOLDER_VERB_WRITE "write"
#define HOLDER_VERB_CLOSE_STDIN "closestdin"
#define HOLDER_VERB_RESIZE "resize"
#define HOLDER_VERB_ADOPT "adopt"
#define HOLDER_VERB_KILL "kill"
#define HOLDER_VERB_EXITS "exits"
#define HOLDER_VERB_PING "ping"
#define HOLDER_VERB_SHUTDOWN "shutdown"
#define HOLDER_VERB_RESTORED "restored"
/* `member PID`: a process made elsewhere that joined the pod (a wasm host forked from the node's zygote). */
#define HOLDER_VERB_MEMBER "member"
/* `mkfifo PATH`: a FIFO (mode 0600) made without the daemon spawning mkfifo(1) for it. */
#define HOLDER_VERB_MKFIFO "mkfifo"
/* `mount SOURCE TARGET FSTYPE FLAGS DATA CWD`: mount(2) in the holder's (the host's) mount namespace. */
#define HOLDER_VERB_MOUNT "mount"
/* `umount TARGET`: umount2(2), detached if busy (EINVAL: not a mount point). */
#define HOLDER_VERB_UMOUNT "umount"
/* `access PATH`: whether PATH is executable in a guest (its OCI runtime probe). Guest pid 1 only. */
#define HOLDER_VERB_ACCESS "access"
/* `hostname NAME`: sethostname(2) in a guest. Guest pid 1 only. */
#define HOLDER_VERB_HOSTNAME "hostname"
/* `linkup IFNAME MTU`: a guest NIC's MTU set and the NIC up (ENODEV until it is there). Guest pid 1 only. */
#define HOLDER_VERB_LINK_UP "linkup"
/* `addradd IFNAME ADDRESS/PREFIX`: an address on a guest NIC. Guest pid 1 only. */
#define HOLDER_VERB_ADDR_ADD "addradd"
/* `routeadd IFNAME FAMILY DST GATEWAY SCOPE`: a route through a guest NIC. Guest pid 1 only. */
#define HOLDER_VERB_ROUTE_ADD "routeadd"
/* `sysctl KEY VALUE`: a guest's sysctl. Guest pid 1 only. */
#define HOLDER_VERB_SYSCTL "sysctl"
/* `fifostart PATH`: a container crun created in a guest started through its exec fifo. Guest pid 1 only. */
#define HOLDER_VERB_FIFO_START "fifostart"

/* Replies. */
#define HOLDER_REPLY_OK "ok"
#define HOLDER_REPLY_ERR "err"

/* Events. */
#define HOLDER_EVENT_EXIT "exit"
#define HOLDER_EVENT_OUT "out"
#define HOLDER_EVENT_EOF "eof"

#endif
