/* What the endpoint holds: listeners, containerd connections with their kuasard
 * connections, and the calls in flight on them. Both processes keep a copy (each in
 * its own fd numbering): the relay works on it, the custody process keeps it so a
 * new relay can continue where a dead one stopped (docs/adr/0005-endpoint-custody.md). */
#ifndef KUASAR_ENDPOINT_TABLE_H
#define KUASAR_ENDPOINT_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define ROUTE_MAX 64
#define PATH_MAX_ 4096
#define METHOD_MAX 128

/* One call containerd made and has not had an answer to yet. */
struct call {
  uint32_t stream;
  int idempotent;
  char method[METHOD_MAX];
  /* The request frame as sent to kuasard (kept for idempotent calls only, to send again). */
  uint8_t *frame;
  size_t frame_len;
  /* Absolute deadline in ms since the epoch (0: none). */
  int64_t deadline_ms;
  /* Relay only: written to the current kuasard connection. */
  int sent;
  struct call *next;
};

/* Bytes waiting to be written to a socket that would block. */
struct outbuf {
  uint8_t *data;
  size_t len, off;
};

/* A frame being read that was too large to peek whole. */
struct bigread {
  uint8_t *buf;
  size_t need, have;
};

struct conn {
  uint32_t id;
  char route[ROUTE_MAX];
  int cfd; /* containerd's side */
  int kfd; /* kuasard's side, -1 while kuasard is away */
  struct call *calls;
  uint32_t ncalls;
  /* Relay only. */
  struct outbuf cout, kout;
  struct bigread cbig, kbig;
  int64_t next_dial_ms;
  int dial_delay_ms;
  int64_t partial_since_ms;
  /* The peer shut its side: a frame it left half-sent will never be completed. */
  int c_rdhup, k_rdhup;
  int dead;
  struct conn *next;
};

struct listener {
  uint32_t id;
  char route[ROUTE_MAX]; /* "" for the control socket */
  char path[PATH_MAX_];
  int fd;
  struct listener *next;
};

/* A write end of a container's output FIFO, kept open across kuasard restarts. */
struct held {
  uint32_t id;
  char path[PATH_MAX_];
  int fd;
  struct held *next;
};

struct table {
  struct listener *listeners;
  struct held *held;
  uint32_t nheld;
  struct conn *conns;
  uint32_t nconns;
  uint32_t next_id;
  char backend_path[PATH_MAX_];
};

extern struct table tab;

struct conn *conn_find(uint32_t id);
struct listener *listener_find_route(const char *route);
struct call *call_find(struct conn *c, uint32_t stream);
/* Unlinks and frees a call; frees nothing else. */
void call_remove(struct conn *c, uint32_t stream);
void call_free(struct call *k);
/* Unlinks a connection and frees it and its calls (closing its fds). */
void conn_remove(struct conn *c);
struct held *held_find_path(const char *path);
/* Unlinks, closes and frees a held fd. */
void held_remove(struct held *h);
/* Bumps next_id past `id`. */
void table_saw_id(uint32_t id);
/* Whether fd belongs to the table. */
int table_owns_fd(int fd);

#endif
