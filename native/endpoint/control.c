#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "custody.h"
#include "log.h"
#include "relay.h"
#include "table.h"
#include "wire.h"

#define CONTROL_SERVICE "kuasar.endpoint.v1.Endpoint"
/* Control requests are a route and a path: anything larger is not kuasard. */
#define CONTROL_FRAME_MAX (16u << 10)

struct control {
  int fd;
  uint8_t in[TTRPC_HEADER + CONTROL_FRAME_MAX];
  size_t have;
  struct outbuf out;
};

struct control *control_new(int fd) {
  struct control *c = calloc(1, sizeof *c);
  if (c) c->fd = fd;
  return c;
}

static void control_free(struct control *c) {
  close(c->fd);
  free(c->out.data);
  free(c);
}

static int slice_eq(struct slice s, const char *z) { return s.n == strlen(z) && !memcmp(s.p, z, s.n); }

static void copy_slice(char *dst, size_t cap, struct slice s) {
  size_t n = s.n < cap - 1 ? s.n : cap - 1;
  memcpy(dst, s.p, n);
  dst[n] = 0;
}

static int reply(struct control *c, uint32_t stream, int code, const char *msg, const uint8_t *payload, size_t plen) {
  size_t len;
  uint8_t *f = response_frame(stream, code, msg, payload, plen, &len);
  if (!f) return -1;
  int r = out_write(c->fd, &c->out, f, len);
  free(f);
  return r;
}

static int on_listen(struct control *c, uint32_t stream, struct slice payload) {
  struct slice route, path;
  if (pb_find_bytes(payload.p, payload.n, 1, &route) < 0 || pb_find_bytes(payload.p, payload.n, 2, &path) < 0)
    return reply(c, stream, CODE_INVALID_ARGUMENT, "malformed ListenRequest", NULL, 0);
  char r[ROUTE_MAX + 1], p[PATH_MAX_ + 1];
  if (route.n > ROUTE_MAX || path.n >= PATH_MAX_ || memchr(route.p, 0, route.n) || memchr(path.p, 0, path.n))
    return reply(c, stream, CODE_INVALID_ARGUMENT, "route or path too long", NULL, 0);
  copy_slice(r, sizeof r, route);
  copy_slice(p, sizeof p, path);
  const char *err = "";
  int code = relay_listen(r, p, &err);
  if (code) {
    char msg[PATH_MAX_ + 128];
    snprintf(msg, sizeof msg, "listen %s on %s: %s", r, p, err);
    return reply(c, stream, code, msg, NULL, 0);
  }
  return reply(c, stream, CODE_OK, NULL, NULL, 0);
}

/* Bounds the fds Hold may keep (two per container at most). */
#define HELD_MAX 65536

static int path_arg(struct slice payload, char *out) {
  struct slice path;
  if (pb_find_bytes(payload.p, payload.n, 1, &path) != 0 || path.n == 0 || path.n >= PATH_MAX_ || memchr(path.p, 0, path.n) || path.p[0] != '/') return -1;
  copy_slice(out, PATH_MAX_, path);
  return 0;
}

static int on_hold(struct control *c, uint32_t stream, struct slice payload) {
  char path[PATH_MAX_];
  if (path_arg(payload, path) < 0) return reply(c, stream, CODE_INVALID_ARGUMENT, "Hold: want an absolute path", NULL, 0);
  if (held_find_path(path)) return reply(c, stream, CODE_OK, NULL, NULL, 0);
  if (tab.nheld >= HELD_MAX) return reply(c, stream, CODE_RESOURCE_EXHAUSTED, "Hold: too many outputs held", NULL, 0);
  /* Non-blocking: a FIFO nobody reads fails at once (ENXIO) instead of hanging the relay. */
  int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  struct stat st;
  if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode))) {
    close(fd);
    return reply(c, stream, CODE_INVALID_ARGUMENT, "Hold: not a FIFO", NULL, 0);
  }
  if (fd < 0) {
    char msg[PATH_MAX_ + 64];
    snprintf(msg, sizeof msg, "Hold %s: %s", path, strerror(errno));
    return reply(c, stream, errno == ENOENT ? CODE_NOT_FOUND : CODE_FAILED_PRECONDITION, msg, NULL, 0);
  }
  struct held *h = calloc(1, sizeof *h);
  if (!h) {
    close(fd);
    return reply(c, stream, CODE_RESOURCE_EXHAUSTED, "out of memory", NULL, 0);
  }
  h->id = tab.next_id++;
  h->fd = fd;
  snprintf(h->path, sizeof h->path, "%s", path);
  h->next = tab.held;
  tab.held = h;
  tab.nheld++;
  custody_send(OP_HOLD, h->id, 0, 0, 0, path, strlen(path) + 1, &fd, 1);
  return reply(c, stream, CODE_OK, NULL, NULL, 0);
}

static int on_release(struct control *c, uint32_t stream, struct slice payload) {
  char path[PATH_MAX_];
  if (path_arg(payload, path) < 0) return reply(c, stream, CODE_INVALID_ARGUMENT, "Release: want an absolute path", NULL, 0);
  struct held *h = held_find_path(path);
  if (h) {
    /* Out of the table first: a custody process started meanwhile (from the table) must not get it. */
    uint32_t id = h->id;
    held_remove(h);
    custody_release(id);
  }
  return reply(c, stream, CODE_OK, NULL, NULL, 0);
}

static int on_status(struct control *c, uint32_t stream) {
  size_t cap = 256;
  for (struct listener *l = tab.listeners; l; l = l->next) cap += strlen(l->route) + strlen(l->path) + 32;
  for (struct held *h = tab.held; h; h = h->next) cap += strlen(h->path) + 8;
  uint8_t *b = malloc(cap);
  if (!b) return reply(c, stream, CODE_RESOURCE_EXHAUSTED, "out of memory", NULL, 0);
  size_t n = pb_varint_field(b, 1, (uint64_t)getpid());
  for (struct listener *l = tab.listeners; l; l = l->next) {
    if (!l->route[0]) continue;
    uint8_t entry[ROUTE_MAX + PATH_MAX_ + 16];
    size_t e = pb_bytes_field(entry, 1, l->route, strlen(l->route));
    e += pb_bytes_field(entry + e, 2, l->path, strlen(l->path));
    n += pb_bytes_field(b + n, 2, entry, e);
  }
  n += pb_varint_field(b + n, 3, tab.nconns);
  n += pb_varint_field(b + n, 4, relay_pending_calls());
  n += pb_varint_field(b + n, 5, (uint64_t)relay_backend_reachable());
  n += pb_varint_field(b + n, 6, (uint64_t)peer_pid);
  n += pb_varint_field(b + n, 7, relay_generation);
  for (struct held *h = tab.held; h; h = h->next) n += pb_bytes_field(b + n, 8, h->path, strlen(h->path));
  int r = reply(c, stream, CODE_OK, NULL, b, n);
  free(b);
  return r;
}

static int handle(struct control *c, const uint8_t *frame, size_t len) {
  struct frame_header h;
  header_decode(frame, &h);
  if (h.type != TTRPC_REQUEST) return -1;
  struct request_view r;
  if (request_parse(frame + TTRPC_HEADER, len - TTRPC_HEADER, &r) < 0) return reply(c, h.stream, CODE_INVALID_ARGUMENT, "malformed request", NULL, 0);
  if (!slice_eq(r.service, CONTROL_SERVICE)) return reply(c, h.stream, CODE_UNIMPLEMENTED, "unknown service", NULL, 0);
  if (slice_eq(r.method, "Listen")) return on_listen(c, h.stream, r.payload);
  if (slice_eq(r.method, "Status")) return on_status(c, h.stream);
  if (slice_eq(r.method, "Hold")) return on_hold(c, h.stream, r.payload);
  if (slice_eq(r.method, "Release")) return on_release(c, h.stream, r.payload);
  return reply(c, h.stream, CODE_UNIMPLEMENTED, "unknown method", NULL, 0);
}

int control_input(struct control *c) {
  for (;;) {
    ssize_t n = recv(c->fd, c->in + c->have, sizeof c->in - c->have, MSG_DONTWAIT);
    if (n == 0) return -1;
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? 0 : -1;
    }
    c->have += (size_t)n;
    while (c->have >= TTRPC_HEADER) {
      struct frame_header h;
      header_decode(c->in, &h);
      if (h.length > CONTROL_FRAME_MAX) return -1;
      size_t total = TTRPC_HEADER + h.length;
      if (c->have < total) break;
      if (handle(c, c->in, total) < 0) return -1;
      memmove(c->in, c->in + total, c->have - total);
      c->have -= total;
    }
  }
}

int control_event(struct control *c, uint32_t events) {
  if (events & EPOLLOUT) {
    while (c->out.off < c->out.len) {
      ssize_t n = send(c->fd, c->out.data + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN) break;
        control_free(c);
        return -1;
      }
      c->out.off += (size_t)n;
    }
  }
  if (control_input(c) < 0) {
    control_free(c);
    return -1;
  }
  return 0;
}
