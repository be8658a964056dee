/*
 * Moving a process's stdio: pumps between two fds (a stdin FIFO into a pipe, a
 * terminal master into a FIFO), streamed stdin (`write` requests queued for a pipe
 * or a terminal), and streamed output (a pipe or a terminal sent as `out`/`eof`
 * events to the client that spawned the process, with back-pressure).
 */
#ifndef KUASAR_HOLDER_STDIO_RELAY_H
#define KUASAR_HOLDER_STDIO_RELAY_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>

enum {
	PUMP_BUF = 32 * 1024, /* per stdin/terminal direction */
	PUMP_ROUNDS = 16,     /* reads per pump per wake-up (fairness) */
};

struct holder;
struct client;
struct rec;

struct pump {
	bool active;
	bool eof;         /* nothing more will be read from src */
	bool own_src, own_dst;
	bool discard_on_error; /* keep draining src when dst fails (terminal output) */
	int src, dst;     /* dst < 0: discard */
	int stream;       /* 1 or 2: src goes to the owner as `out` events (no dst); 0: to dst */
	struct rec *rec;  /* owner of a stream pump */
	char *buf;
	size_t off, len;
};

/* A streamed stdin: `write` data queued in memory, written to a pipe or a terminal master. */
struct instream {
	bool active;
	bool closing;     /* closestdin: close once the queue is written */
	bool own;         /* fd is our pipe end (a terminal master is not ours to close) */
	int fd;           /* -1 until the terminal arrives */
	struct buf q;
};

bool pump_init(struct pump *p, int src, bool own_src, int dst, bool own_dst);
/* A pump sending src as `out` events for fd (1 or 2) of r. */
bool stream_init(struct rec *r, struct pump *p, int src, bool own_src, int fd);
void pump_close(struct pump *p);
/* Moves data until src or dst would block; closes the pump when src is done and drained. */
void pump_run(struct holder *h, struct pump *p);
/* closestdin of a FIFO pump: forwards what the writer already put in the FIFO, then EOF. */
void pump_finish_input(struct holder *h, struct pump *p);
/* Whether to poll the pump's src: a stream pump only while its output can be sent or discarded. */
bool pump_wants_input(struct holder *h, const struct pump *p);

void instream_run(struct instream *s);
void instream_close(struct instream *s);

#endif
