/*
 * The holder's control protocol (mirrored by src/holder/holder-protocol.ts).
 *
 * Framing: a 4-byte big-endian payload length, then the payload: a sequence of
 * NUL-terminated strings. A request longer than HOLDER_MAX_REQUEST closes the
 * connection; other malformed requests get an `err` reply.
 *
 * Requests (the second string is echoed by the reply; replies come in request
 * order, one per request):
 *
 *   spawn ID CWD STDIN STDOUT STDERR FLAGS ARGC ARG... ENVC ENV...  -> ok ID PID
 *   closestdin ID                                                   -> ok ID
 *   resize ID COLS ROWS                                             -> ok ID
 *   adopt ID PID                                                    -> ok ID
 *   kill RID PID SIG                                                -> ok RID
 *   exits RID                                                       -> ok RID JOURNAL
 *   exits RID OFFSET                                                -> ok RID SLICE NEXTOFFSET
 *   ping RID                                                        -> ok RID HOLDERPID PODINITPID
 *   shutdown RID                                                    -> ok RID (then the holder exits)
 *
 * Any request may fail with `err RID ERRNO MESSAGE` (ERRNO decimal, Linux numbering).
 * Event, to every client, after the exit is journaled:
 *
 *   exit 0 PID STATUS SEC NSEC ID       (STATUS: exit code, or 128+signal; ID "-" if unknown)
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

#endif
