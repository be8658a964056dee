/*
 * Clients of the control protocol: the connections on DIR/holder.sock, or in serve
 * mode the one port. Reads and frames requests, queues replies and events.
 */
#ifndef KUASAR_HOLDER_SERVER_H
#define KUASAR_HOLDER_SERVER_H

#include "buf.h"

#include <stdbool.h>
#include <stdint.h>

struct holder;
struct frame;

struct client {
	int fd;
	bool dead;
	bool port;      /* the --serve-port byte stream: read/write, never freed */
	bool detached;  /* port only: the host is not connected */
	bool spoke;     /* sent a request with a known verb: kuasard, not a stray or garbage client */
	uint64_t seq;
	unsigned char hdr[4];
	unsigned hdr_got;
	char *msg;
	uint32_t msg_len, msg_got;
	struct buf out;
};

/* Creates and listens on DIR/holder.sock (dies if another holder serves it). */
void server_listen(struct holder *h);
/* Admits every pending connection (dropping the oldest silent client when full). */
void server_accept(struct holder *h);
/* Reads what a client sent and answers every whole request. */
void client_read(struct holder *h, struct client *c);
/* Writes what is queued for c until it would block. */
void client_flush(struct client *c);
/* Queues message f for c (a socket client that does not read is dropped). */
void client_send(struct client *c, const struct frame *f);
/* Dead or (port) detached: nothing is read from or sent to it. */
bool client_gone(const struct client *c);
/* The client with sequence number seq, or NULL. */
struct client *client_by_seq(struct holder *h, uint64_t seq);
/* Queues message f for every client. */
void broadcast(struct holder *h, const struct frame *f);
/* Frees the dead socket clients. */
void server_sweep(struct holder *h);

void reply_ok(struct holder *h, struct client *c, const char *rid);
void reply_err(struct holder *h, struct client *c, const char *rid, int err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Replies `err` and returns from the calling request handler. */
#define FAIL(...)                       \
	do {                            \
		reply_err(__VA_ARGS__); \
		return;                 \
	} while (0)

/*
 * Sends what is queued (for at most a second), removes the socket and pid file, and
 * exits; as a guest's pid 1, powers off instead.
 */
void holder_exit(struct holder *h) __attribute__((noreturn));

#endif
