#include "table.h"

#include <stdlib.h>
#include <unistd.h>

struct table tab = {.next_id = 1};

struct conn *conn_find(uint32_t id) {
  for (struct conn *c = tab.conns; c; c = c->next)
    if (c->id == id) return c;
  return NULL;
}

struct listener *listener_find_route(const char *route) {
  for (struct listener *l = tab.listeners; l; l = l->next)
    if (l->route[0] && !__builtin_strcmp(l->route, route)) return l;
  return NULL;
}

struct call *call_find(struct conn *c, uint32_t stream) {
  for (struct call *k = c->calls; k; k = k->next)
    if (k->stream == stream) return k;
  return NULL;
}

void call_free(struct call *k) {
  free(k->frame);
  free(k);
}

void call_remove(struct conn *c, uint32_t stream) {
  for (struct call **pp = &c->calls; *pp; pp = &(*pp)->next) {
    if ((*pp)->stream == stream) {
      struct call *k = *pp;
      *pp = k->next;
      c->ncalls--;
      call_free(k);
      return;
    }
  }
}

void conn_remove(struct conn *c) {
  for (struct conn **pp = &tab.conns; *pp; pp = &(*pp)->next) {
    if (*pp == c) {
      *pp = c->next;
      tab.nconns--;
      break;
    }
  }
  while (c->calls) {
    struct call *k = c->calls;
    c->calls = k->next;
    call_free(k);
  }
  if (c->cfd >= 0) close(c->cfd);
  if (c->kfd >= 0) close(c->kfd);
  free(c->cout.data);
  free(c->kout.data);
  free(c->cbig.buf);
  free(c->kbig.buf);
  free(c);
}

struct held *held_find_path(const char *path) {
  for (struct held *h = tab.held; h; h = h->next)
    if (!__builtin_strcmp(h->path, path)) return h;
  return NULL;
}

void held_remove(struct held *h) {
  for (struct held **pp = &tab.held; *pp; pp = &(*pp)->next) {
    if (*pp == h) {
      *pp = h->next;
      tab.nheld--;
      break;
    }
  }
  if (h->fd >= 0) close(h->fd);
  free(h);
}

void table_saw_id(uint32_t id) {
  if (id >= tab.next_id) tab.next_id = id + 1;
}

int table_owns_fd(int fd) {
  for (struct listener *l = tab.listeners; l; l = l->next)
    if (l->fd == fd) return 1;
  for (struct conn *c = tab.conns; c; c = c->next)
    if (c->cfd == fd || c->kfd == fd) return 1;
  for (struct held *h = tab.held; h; h = h->next)
    if (h->fd == fd) return 1;
  return 0;
}
