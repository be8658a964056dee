#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "listen.h"
#include "custody.h"
#include "log.h"
#include "table.h"
#include "wire.h"

/* Frames up to this size are read only once wholly queued (peeked first), so a relay that
 * dies never leaves half a frame consumed; larger ones (rare) are read as they come. */
#define PEEK_MAX (60u << 10)
/* Bounds that keep a hostile or broken client from growing the relay. */
#define CONNS_MAX 8192
#define CALLS_PER_CONN_MAX 4096
/* A frame left half-sent for this long is a client that stalled: its connection is closed. */
#define PARTIAL_FRAME_MS 60000
#define ROUTE_KEY "kuasar-route"

enum slot_kind { S_FREE, S_LISTENER, S_CONTROL_LISTENER, S_CONTROL, S_CONN_C, S_CONN_K, S_CUSTODY };

struct slot {
  enum slot_kind kind;
  void *ptr;
};

static int ep = -1;
/* When the timers (re-dials, deadlines, stalled frames) are looked at next; 0: at once. */
static int64_t next_tick_ms;
/* A connection was closed this round: free it after the round. */
static int reap_needed;
static struct slot *slots;
static int nslots;

static const char *const idempotent_methods[] = {"Wait", "State", "Pids", "Connect", "Stats", "Status", "Ping", "Platform"};

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void slot_set(int fd, enum slot_kind kind, void *ptr) {
  if (fd >= nslots) {
    int n = fd + 64;
    struct slot *s = realloc(slots, (size_t)n * sizeof *s);
    if (!s) {
      log_error("out of memory");
      _exit(70);
    }
    memset(s + nslots, 0, (size_t)(n - nslots) * sizeof *s);
    slots = s, nslots = n;
  }
  slots[fd].kind = kind;
  slots[fd].ptr = ptr;
}

static void watch(int fd, enum slot_kind kind, void *ptr, uint32_t events) {
  slot_set(fd, kind, ptr);
  struct epoll_event e = {.events = events, .data.fd = fd};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0 && errno == EEXIST) epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
}

void relay_forget_fd(int fd) {
  if (ep >= 0) epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  if (fd >= 0 && fd < nslots) slots[fd].kind = S_FREE, slots[fd].ptr = NULL;
}

void relay_watch_custody(void) {
  if (ep >= 0 && custody_fd >= 0) watch(custody_fd, S_CUSTODY, NULL, EPOLLRDHUP | EPOLLHUP);
}

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int out_write(int fd, struct outbuf *o, const uint8_t *data, size_t len) {
  if (o->len == o->off) {
    o->len = o->off = 0;
    while (len > 0) {
      ssize_t n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        return -1;
      }
      data += n, len -= (size_t)n;
    }
    if (len == 0) return 0;
  }
  /* Compact before resizing: the new size may be smaller than the old buffer. */
  if (o->off) memmove(o->data, o->data + o->off, o->len - o->off);
  o->len -= o->off, o->off = 0;
  uint8_t *p = realloc(o->data, o->len + len);
  if (!p) return -1;
  memcpy(p + o->len, data, len);
  o->data = p, o->len += len;
  return 0;
}

/* Writes what it can of o; 1 when drained, 0 when still pending, -1 on a dead peer. */
static int out_flush(int fd, struct outbuf *o) {
  while (o->off < o->len) {
    ssize_t n = send(fd, o->data + o->off, o->len - o->off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      return -1;
    }
    o->off += (size_t)n;
  }
  free(o->data);
  o->data = NULL, o->len = o->off = 0;
  return 1;
}

static int pending(const struct outbuf *o) { return o->off < o->len; }

/* ---- connections ---- */

static void conn_close(struct conn *c, const char *why) {
  if (c->dead) return;
  c->dead = 1;
  reap_needed = 1;
  log_debug("connection %u closed: %s", c->id, why);
  relay_forget_fd(c->cfd);
  if (c->kfd >= 0) relay_forget_fd(c->kfd);
  custody_send(OP_DROP_CONN, c->id, 0, 0, 0, NULL, 0, NULL, 0);
}

static void reply_error(struct conn *c, uint32_t stream, int code, const char *msg) {
  size_t len;
  uint8_t *f = response_frame(stream, code, msg, NULL, 0, &len);
  if (!f) return;
  if (out_write(c->cfd, &c->cout, f, len) < 0) conn_close(c, "containerd went away");
  free(f);
}

static void send_call(struct conn *c, struct call *k) {
  if (c->kfd < 0 || k->sent || !k->frame) return;
  if (out_write(c->kfd, &c->kout, k->frame, k->frame_len) < 0) return; /* the close is seen on read */
  k->sent = 1;
  if (!k->idempotent) {
    free(k->frame);
    k->frame = NULL, k->frame_len = 0;
  }
}

static void call_done(struct conn *c, uint32_t stream) {
  call_remove(c, stream);
  custody_send(OP_DONE, c->id, stream, 0, 0, NULL, 0, NULL, 0);
}

/* Answers a call that cannot be delivered UNAVAILABLE ("<why> <method>; retry": containerd
 * retries) and forgets it; -1 when containerd's connection died meanwhile. */
static int give_up(struct conn *c, struct call *k, const char *why) {
  char msg[METHOD_MAX + 96];
  snprintf(msg, sizeof msg, "%s %s; retry", why, k->method);
  uint32_t s = k->stream;
  reply_error(c, s, CODE_UNAVAILABLE, msg);
  if (c->dead) return -1;
  call_done(c, s);
  return 0;
}

static int is_idempotent(const struct slice *m) {
  for (size_t i = 0; i < sizeof idempotent_methods / sizeof *idempotent_methods; i++)
    if (strlen(idempotent_methods[i]) == m->n && !memcmp(idempotent_methods[i], m->p, m->n)) return 1;
  return 0;
}

/* One whole request frame from containerd. */
static void on_request(struct conn *c, const uint8_t *frame, size_t len) {
  struct frame_header h;
  header_decode(frame, &h);
  if (h.type != TTRPC_REQUEST) {
    /* The Task API is unary: anything else is a peer we do not understand. */
    conn_close(c, "unexpected frame type");
    return;
  }
  struct request_view r;
  if (request_parse(frame + TTRPC_HEADER, len - TTRPC_HEADER, &r) < 0 || r.service.n == 0 || r.method.n == 0 || r.method.n >= METHOD_MAX) {
    reply_error(c, h.stream, CODE_INVALID_ARGUMENT, "malformed ttrpc request");
    return;
  }
  if (call_find(c, h.stream)) {
    reply_error(c, h.stream, CODE_INVALID_ARGUMENT, "stream id already in use");
    return;
  }
  if (c->ncalls >= CALLS_PER_CONN_MAX) {
    reply_error(c, h.stream, CODE_RESOURCE_EXHAUSTED, "too many calls in flight on this connection");
    return;
  }
  uint8_t md[256];
  int mn = metadata_entry(md, sizeof md, ROUTE_KEY, c->route);
  if (mn < 0 || len - TTRPC_HEADER + (size_t)mn > TTRPC_MAX_DATA) {
    reply_error(c, h.stream, CODE_RESOURCE_EXHAUSTED, "request too large");
    return;
  }
  struct call *k = calloc(1, sizeof *k);
  uint8_t *fwd = malloc(len + (size_t)mn);
  if (!k || !fwd) {
    free(k), free(fwd);
    reply_error(c, h.stream, CODE_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  memcpy(fwd, frame, len);
  memcpy(fwd + len, md, (size_t)mn);
  h.length += (uint32_t)mn;
  header_encode(fwd, &h);
  k->stream = h.stream;
  k->idempotent = is_idempotent(&r.method);
  memcpy(k->method, r.method.p, r.method.n);
  k->frame = fwd, k->frame_len = len + (size_t)mn;
  k->deadline_ms = r.timeout_nano > 0 ? wall_ms() + r.timeout_nano / 1000000 : 0;
  struct call **pp = &c->calls;
  while (*pp) pp = &(*pp)->next;
  *pp = k;
  c->ncalls++;
  /* Custody learns of the call before kuasard does: a relay dying in between leaves a
   * record the next relay can act on. */
  size_t keep = k->idempotent && k->frame_len <= CUSTODY_FRAME_MAX ? k->frame_len : 0;
  uint8_t *msg = malloc(r.method.n + 1 + keep);
  if (msg) {
    memcpy(msg, r.method.p, r.method.n);
    msg[r.method.n] = 0;
    if (keep) memcpy(msg + r.method.n + 1, fwd, keep);
    custody_send(OP_CALL, c->id, k->stream, keep ? CALL_IDEMPOTENT : 0, k->deadline_ms, msg, r.method.n + 1 + keep, NULL, 0);
    free(msg);
  }
  send_call(c, k);
}

/* One whole frame from kuasard. */
static void on_reply(struct conn *c, const uint8_t *frame, size_t len) {
  struct frame_header h;
  header_decode(frame, &h);
  if (h.type == TTRPC_RESPONSE) {
    /* An answer to a call sent twice (after a relay restart) arrives twice: only the first goes on. */
    if (!call_find(c, h.stream)) return;
    if (out_write(c->cfd, &c->cout, frame, len) < 0) {
      conn_close(c, "containerd went away");
      return;
    }
    call_done(c, h.stream);
    return;
  }
  if (out_write(c->cfd, &c->cout, frame, len) < 0) conn_close(c, "containerd went away");
}

/* kuasard's side of c went away (kuasard restarted, or it closed on a bad frame). */
static void backend_lost(struct conn *c) {
  relay_forget_fd(c->kfd);
  close(c->kfd);
  c->kfd = -1;
  c->k_rdhup = 0;
  free(c->kout.data);
  c->kout.data = NULL, c->kout.len = c->kout.off = 0;
  custody_send(OP_BACKEND, c->id, 0, 0, 0, NULL, 0, NULL, 0);
  for (struct call *k = c->calls, *next; k; k = next) {
    next = k->next;
    if (!k->sent) continue;
    if (k->idempotent && k->frame) {
      k->sent = 0;
      continue;
    }
    if (give_up(c, k, "kuasard restarted during") < 0) return;
  }
  c->dial_delay_ms = 50;
  c->next_dial_ms = wall_ms();
  next_tick_ms = 0;
}

static int dial_backend(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  memcpy(a.sun_path, tab.backend_path, strnlen(tab.backend_path, sizeof a.sun_path - 1)); /* length checked at start */
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void read_side(struct conn *c, int kuasard);

static void try_dial(struct conn *c) {
  if (c->dead || c->kfd >= 0) return;
  int fd = dial_backend();
  if (fd < 0) {
    c->dial_delay_ms = c->dial_delay_ms ? (c->dial_delay_ms * 2 > 1000 ? 1000 : c->dial_delay_ms * 2) : 50;
    c->next_dial_ms = wall_ms() + c->dial_delay_ms;
    return;
  }
  c->kfd = fd;
  c->k_rdhup = 0;
  c->dial_delay_ms = 50;
  watch(fd, S_CONN_K, c, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
  custody_send(OP_BACKEND, c->id, 0, 0, 0, NULL, 0, &fd, 1);
  for (struct call *k = c->calls; k; k = k->next) send_call(c, k);
  read_side(c, 0);
}

/* Reads whole frames from one side of c while the other side can take them. */
static void read_side(struct conn *c, int kuasard) {
  for (;;) {
    if (c->dead) return;
    int fd = kuasard ? c->kfd : c->cfd;
    if (fd < 0) return;
    /* Back-pressure: nothing more is read while the other side has not taken the last. */
    if (kuasard ? pending(&c->cout) : (pending(&c->kout) || (c->kfd < 0 && c->ncalls >= CALLS_PER_CONN_MAX))) return;
    struct bigread *big = kuasard ? &c->kbig : &c->cbig;
    if (big->buf) {
      ssize_t n = recv(fd, big->buf + big->have, big->need - big->have, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) goto closed;
      if (n < 0) {
        if (kuasard ? c->k_rdhup : c->c_rdhup) goto closed;
        return;
      }
      big->have += (size_t)n;
      if (big->have < big->need) return;
      uint8_t *f = big->buf;
      size_t len = big->need;
      big->buf = NULL;
      if (kuasard) on_reply(c, f, len);
      else on_request(c, f, len);
      free(f);
      continue;
    }
    uint8_t hb[TTRPC_HEADER];
    ssize_t n = recv(fd, hb, sizeof hb, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) goto closed;
    if (n < 0) return;
    if (n < TTRPC_HEADER) {
      if (kuasard ? c->k_rdhup : c->c_rdhup) goto closed;
      if (!kuasard && !c->partial_since_ms) c->partial_since_ms = wall_ms();
      return;
    }
    struct frame_header h;
    header_decode(hb, &h);
    if (h.length > TTRPC_MAX_DATA) {
      if (kuasard) goto closed;
      log_warn("connection %u: frame of %u bytes exceeds the limit; closing", c->id, h.length);
      conn_close(c, "oversize frame");
      return;
    }
    size_t total = TTRPC_HEADER + (size_t)h.length;
    uint8_t *f = malloc(total);
    if (!f) return;
    if (total > PEEK_MAX) {
      big->buf = f, big->need = total, big->have = 0;
      continue;
    }
    n = recv(fd, f, total, MSG_PEEK | MSG_DONTWAIT);
    if (n < (ssize_t)total) {
      free(f);
      if (n == 0 || (kuasard ? c->k_rdhup : c->c_rdhup)) goto closed;
      if (!kuasard && !c->partial_since_ms) c->partial_since_ms = wall_ms();
      return;
    }
    n = recv(fd, f, total, MSG_DONTWAIT);
    if (!kuasard) c->partial_since_ms = 0;
    if (kuasard) on_reply(c, f, total);
    else on_request(c, f, total);
    free(f);
  }
closed:
  if (kuasard) backend_lost(c);
  else conn_close(c, "containerd closed the connection");
}

/* ---- listeners ---- */

static void on_accept(struct listener *l) {
  for (;;) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN) log_warn("accept on %s: %s", l->path, strerror(errno));
      return;
    }
    if (!l->route[0]) {
      struct control *ctl = control_new(fd);
      if (!ctl) {
        close(fd);
        continue;
      }
      watch(fd, S_CONTROL, ctl, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
      if (control_event(ctl, 0) < 0) relay_forget_fd(fd);
      continue;
    }
    if (tab.nconns >= CONNS_MAX) {
      log_warn("%u connections open: refusing one on %s", tab.nconns, l->path);
      close(fd);
      continue;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
      close(fd);
      continue;
    }
    c->id = tab.next_id++;
    snprintf(c->route, sizeof c->route, "%s", l->route);
    c->cfd = fd;
    c->kfd = dial_backend();
    c->dial_delay_ms = 50;
    c->next_dial_ms = wall_ms();
    if (c->kfd < 0) next_tick_ms = 0;
    c->next = tab.conns;
    tab.conns = c;
    tab.nconns++;
    int fds[2] = {c->cfd, c->kfd};
    custody_send(OP_CONN, c->id, 0, 0, 0, c->route, strlen(c->route), fds, c->kfd >= 0 ? 2 : 1);
    watch(c->cfd, S_CONN_C, c, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    if (c->kfd >= 0) watch(c->kfd, S_CONN_K, c, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    log_debug("connection %u on %s", c->id, l->route);
    read_side(c, 0);
  }
}

int relay_listen(const char *route, const char *path, const char **err) {
  struct listener *have = listener_find_route(route);
  if (have) {
    if (!strcmp(have->path, path)) return 0;
    *err = "route already served on another path";
    return CODE_ALREADY_EXISTS;
  }
  if (!route[0] || strlen(route) >= ROUTE_MAX) {
    *err = "route must be 1 to 63 bytes";
    return CODE_INVALID_ARGUMENT;
  }
  int fd = listen_unix(path, err);
  if (fd < 0) return -fd;
  struct listener *l = calloc(1, sizeof *l);
  if (!l) {
    close(fd);
    *err = "out of memory";
    return CODE_RESOURCE_EXHAUSTED;
  }
  l->id = tab.next_id++;
  l->fd = fd;
  snprintf(l->route, sizeof l->route, "%s", route);
  snprintf(l->path, sizeof l->path, "%s", path);
  l->next = tab.listeners;
  tab.listeners = l;
  char data[ROUTE_MAX + PATH_MAX_ + 2];
  size_t rn = strlen(route), pn = strlen(path);
  memcpy(data, route, rn + 1);
  memcpy(data + rn + 1, path, pn + 1);
  custody_send(OP_LISTENER, l->id, 0, 0, 0, data, rn + pn + 2, &fd, 1);
  watch(fd, S_LISTENER, l, EPOLLIN);
  log_info("serving containerd on %s (route %s)", path, route);
  return 0;
}

uint32_t relay_pending_calls(void) {
  uint32_t n = 0;
  for (struct conn *c = tab.conns; c; c = c->next) n += c->ncalls;
  return n;
}

int relay_backend_reachable(void) {
  int fd = dial_backend();
  if (fd < 0) return 0;
  close(fd);
  return 1;
}

/* ---- timers ---- */

/* Looks at every connection's timers; returns whether one waits for kuasard (then the
 * next look is soon: re-dials and queued calls' deadlines). */
static int tick(void) {
  int64_t now = wall_ms();
  int waiting = 0;
  for (struct conn *c = tab.conns; c; c = c->next) {
    if (c->dead) continue;
    if (c->partial_since_ms && now - c->partial_since_ms > PARTIAL_FRAME_MS) {
      log_warn("connection %u left a frame half-sent for %d s; closing", c->id, PARTIAL_FRAME_MS / 1000);
      conn_close(c, "stalled frame");
      continue;
    }
    /* A peer that shut its side while we held back reading (back-pressure) is seen here at
     * the latest: its connection must not outlive it. */
    if (c->c_rdhup && !pending(&c->kout)) read_side(c, 0);
    if (c->dead) continue;
    if (c->kfd < 0) {
      /* Calls waiting for kuasard whose caller's deadline passed are answered now. */
      for (struct call *k = c->calls, *next; k; k = next) {
        next = k->next;
        if (k->sent || !k->deadline_ms || k->deadline_ms > now) continue;
        uint32_t s = k->stream;
        reply_error(c, s, CODE_DEADLINE_EXCEEDED, "kuasard did not come back before the call's deadline");
        if (c->dead) break;
        call_done(c, s);
      }
      if (!c->dead && now >= c->next_dial_ms) try_dial(c);
      waiting |= !c->dead && c->kfd < 0;
    }
  }
  return waiting;
}

/* Frees connections closed during this round (their fds too). */
static void reap(void) {
  reap_needed = 0;
  for (struct conn **pp = &tab.conns; *pp;) {
    struct conn *c = *pp;
    if (!c->dead) {
      pp = &c->next;
      continue;
    }
    conn_remove(c); /* unlinks from *pp */
  }
}

static volatile sig_atomic_t terminate, dump_requested;
static void on_usr1(int sig) {
  (void)sig;
  dump_requested = 1;
}

/* SIGUSR1: one log line per connection, for an operator looking at a stuck call. */
static void dump(void) {
  dump_requested = 0;
  for (struct conn *c = tab.conns; c; c = c->next) {
    log_info("connection %u route %s: containerd fd %d, kuasard fd %d, %u calls (first %s), %zu bytes to containerd and %zu to kuasard pending, hup %d/%d, partial frame since %lld",
             c->id, c->route, c->cfd, c->kfd, c->ncalls, c->calls ? c->calls->method : "-", c->cout.len - c->cout.off, c->kout.len - c->kout.off, c->c_rdhup,
             c->k_rdhup, (long long)c->partial_since_ms);
  }
}

static void on_term(int sig) {
  (void)sig;
  terminate = 1;
}

static void stop(void) {
  log_info("endpoint stopping");
  endpoint_stopping = 1;
  custody_send(OP_STOP, 0, 0, 0, 0, NULL, 0, NULL, 0);
  for (struct listener *l = tab.listeners; l; l = l->next) unlink(l->path);
  _exit(0);
}

void relay_main(void) {
  struct sigaction sa = {.sa_handler = on_term};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  struct sigaction su = {.sa_handler = on_usr1};
  sigaction(SIGUSR1, &su, NULL);
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    log_error("epoll: %s", strerror(errno));
    _exit(71);
  }
  relay_watch_custody();
  for (struct listener *l = tab.listeners; l; l = l->next) {
    set_nonblock(l->fd);
    watch(l->fd, l->route[0] ? S_LISTENER : S_CONTROL_LISTENER, l, EPOLLIN);
  }
  int resent = 0;
  for (struct conn *c = tab.conns; c; c = c->next) {
    set_nonblock(c->cfd);
    c->dial_delay_ms = 50;
    c->next_dial_ms = 0;
    watch(c->cfd, S_CONN_C, c, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    if (c->kfd >= 0) {
      set_nonblock(c->kfd);
      watch(c->kfd, S_CONN_K, c, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    }
    /* Calls the last relay had not passed on yet (kuasard was away) go now, or as soon as
     * kuasard is back; custody keeps only the frames of calls safe to repeat, so the others
     * are answered: containerd retries them. */
    for (struct call *k = c->calls, *next; k; k = next) {
      next = k->next;
      if (k->sent) continue;
      if (k->frame) {
        resent++;
        send_call(c, k);
        continue;
      }
      if (give_up(c, k, "kuasar-endpoint restarted before kuasard got") < 0) break;
    }
  }
  log_info("relay serving %u connections (%d waiting calls sent)", tab.nconns, resent);
  for (struct conn *c = tab.conns; c; c = c->next) {
    read_side(c, 1);
    read_side(c, 0);
  }
  reap();
  struct epoll_event evs[64];
  for (;;) {
    if (terminate) stop();
    if (dump_requested) dump();
    int64_t now = wall_ms();
    int n = epoll_wait(ep, evs, 64, next_tick_ms > now ? (int)(next_tick_ms - now) : 0);
    if (n < 0 && errno != EINTR) {
      log_error("epoll_wait: %s", strerror(errno));
      _exit(72);
    }
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd < 0 || fd >= nslots) continue;
      struct slot s = slots[fd];
      uint32_t e = evs[i].events;
      switch (s.kind) {
      case S_LISTENER:
      case S_CONTROL_LISTENER:
        on_accept(s.ptr);
        break;
      case S_CONTROL:
        if (control_event(s.ptr, e) < 0) relay_forget_fd(fd);
        break;
      case S_CONN_C: {
        struct conn *c = s.ptr;
        if (c->dead) break;
        if ((e & EPOLLOUT) && pending(&c->cout)) {
          int r = out_flush(c->cfd, &c->cout);
          if (r < 0) conn_close(c, "containerd went away");
          else if (r > 0 && c->kfd >= 0) read_side(c, 1);
        }
        if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->c_rdhup = 1;
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) read_side(c, 0);
        break;
      }
      case S_CONN_K: {
        struct conn *c = s.ptr;
        if (c->dead || c->kfd != fd) break;
        if ((e & EPOLLOUT) && pending(&c->kout)) {
          int r = out_flush(c->kfd, &c->kout);
          if (r > 0) read_side(c, 0);
        }
        if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->k_rdhup = 1;
        if (c->kfd == fd && (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) read_side(c, 1);
        break;
      }
      case S_CUSTODY:
        if (terminate) stop();
        custody_respawn();
        break;
      case S_FREE:
        break;
      }
    }
    now = wall_ms();
    if (now >= next_tick_ms) next_tick_ms = now + (tick() ? 50 : 1000);
    if (reap_needed) reap();
  }
}
