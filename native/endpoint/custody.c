#include "custody.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "relay.h"
#include "table.h"

int custody_fd = -1;
int endpoint_stopping;
pid_t peer_pid;
uint32_t relay_generation;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int custody_send(uint32_t op, uint32_t id, uint32_t stream, uint32_t flags, int64_t deadline_ms, const void *data, size_t len, const int *fds, int nfds) {
  struct custody_head h = {op, id, stream, flags, deadline_ms};
  struct iovec iov[2] = {{&h, sizeof h}, {(void *)data, len}};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(2 * sizeof(int))];
  } ctl;
  struct msghdr m = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
  if (nfds > 0) {
    memset(&ctl, 0, sizeof ctl);
    m.msg_control = ctl.buf;
    m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  }
  for (;;) {
    if (custody_fd < 0) return -1;
    if (sendmsg(custody_fd, &m, MSG_NOSIGNAL) >= 0) return 0;
    if (errno == EINTR) continue;
    if (endpoint_stopping) return -1;
    /* The custody process is gone: the new one is forked from our table, which already
     * holds this update, so nothing needs sending again. */
    log_warn("custody process lost (%s); starting a new one", strerror(errno));
    custody_respawn();
    return -1;
  }
}

/* How long Release waits for custody to say it closed its copy. */
#define RELEASE_ACK_MS 2000

void custody_release(uint32_t id) {
  /* Not sent: the custody process was replaced from a table without this output. */
  if (custody_send(OP_RELEASE, id, 0, 0, 0, NULL, 0, NULL, 0) < 0) return;
  int64_t until = now_ms() + RELEASE_ACK_MS;
  for (;;) {
    int64_t left = until - now_ms();
    struct pollfd p = {custody_fd, POLLIN, 0};
    int r = left > 0 ? poll(&p, 1, (int)left) : 0;
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      log_warn("custody process did not confirm the release of output %u within %d ms", id, RELEASE_ACK_MS);
      return;
    }
    uint32_t acked;
    ssize_t n = recv(custody_fd, &acked, sizeof acked, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    /* EOF: custody died, and its copy with it (the main loop starts the next one). */
    if (n <= 0) return;
    /* An older confirmation, left when its wait timed out, is skipped. */
    if (n == sizeof acked && acked == id) return;
  }
}

/* Closes every fd the table does not own, except `keep` and stdio. */
static void close_foreign_fds(int keep) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return;
  int self = dirfd(d);
  int fds[4096], n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 4096) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd <= 2 || fd == keep || fd == self || table_owns_fd(fd)) continue;
    fds[n++] = fd;
  }
  closedir(d);
  for (int i = 0; i < n; i++) close(fds[i]);
}

void custody_respawn(void) {
  int sv[2];
  if (custody_fd >= 0) {
    relay_forget_fd(custody_fd);
    close(custody_fd);
    custody_fd = -1;
  }
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    log_error("socketpair for a new custody process: %s", strerror(errno));
    return;
  }
  pid_t relay = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    log_error("fork of a new custody process: %s", strerror(errno));
    close(sv[0]), close(sv[1]);
    return;
  }
  if (pid == 0) {
    close(sv[1]);
    close_foreign_fds(sv[0]);
    peer_pid = relay;
    log_role = "custody";
    custody_main(sv[0]);
  }
  close(sv[0]);
  custody_fd = sv[1];
  peer_pid = pid;
  relay_watch_custody();
  log_info("custody process %d holds the endpoint's sockets", (int)pid);
}

int spawn_relay(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return -1;
  relay_generation++;
  pid_t custody = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(sv[0]), close(sv[1]);
    return -1;
  }
  if (pid == 0) {
    close(sv[0]);
    custody_fd = sv[1];
    peer_pid = custody;
    log_role = "relay";
    prctl(PR_SET_NAME, "kuasar-endpoint");
    relay_main();
  }
  close(sv[1]);
  peer_pid = pid;
  log_info("relay %d started (generation %u)", (int)pid, relay_generation);
  return sv[0];
}

/* Applies one update from the relay to custody's table. Fds that the update does not
 * keep are closed, so a confused relay cannot make custody leak. */
static void apply(const struct custody_head *h, const uint8_t *data, size_t len, int *fds, int nfds) {
  int used = 0;
  table_saw_id(h->id);
  switch (h->op) {
  case OP_LISTENER: {
    if (nfds < 1) break;
    struct listener *l = calloc(1, sizeof *l);
    if (!l) break;
    size_t rn = strnlen((const char *)data, len);
    snprintf(l->route, sizeof l->route, "%.*s", (int)rn, (const char *)data);
    if (rn + 1 < len) snprintf(l->path, sizeof l->path, "%.*s", (int)strnlen((const char *)data + rn + 1, len - rn - 1), (const char *)data + rn + 1);
    l->id = h->id;
    l->fd = fds[0];
    l->next = tab.listeners;
    tab.listeners = l;
    used = 1;
    break;
  }
  case OP_CONN: {
    if (nfds < 1 || conn_find(h->id)) break;
    struct conn *c = calloc(1, sizeof *c);
    if (!c) break;
    snprintf(c->route, sizeof c->route, "%.*s", (int)len, (const char *)data);
    c->id = h->id;
    c->cfd = fds[0];
    c->kfd = nfds > 1 ? fds[1] : -1;
    c->next = tab.conns;
    tab.conns = c;
    tab.nconns++;
    used = nfds;
    break;
  }
  case OP_BACKEND: {
    struct conn *c = conn_find(h->id);
    if (!c) break;
    if (c->kfd >= 0) close(c->kfd);
    c->kfd = nfds > 0 ? fds[0] : -1;
    used = nfds > 0 ? 1 : 0;
    /* A relay sends every waiting call to a new kuasard connection at once; when kuasard
     * goes away, the calls it kept are the ones safe to send again, all unsent now. */
    for (struct call *k = c->calls; k; k = k->next) k->sent = c->kfd >= 0;
    break;
  }
  case OP_DROP_CONN: {
    struct conn *c = conn_find(h->id);
    if (c) conn_remove(c);
    break;
  }
  case OP_CALL: {
    struct conn *c = conn_find(h->id);
    if (!c || call_find(c, h->stream)) break;
    struct call *k = calloc(1, sizeof *k);
    if (!k) break;
    size_t mn = strnlen((const char *)data, len);
    snprintf(k->method, sizeof k->method, "%.*s", (int)mn, (const char *)data);
    k->stream = h->stream;
    k->idempotent = h->flags & CALL_IDEMPOTENT;
    k->deadline_ms = h->deadline_ms;
    /* The relay writes a call to kuasard right after telling custody, when it has a connection. */
    k->sent = c->kfd >= 0;
    if (mn + 1 < len) {
      k->frame_len = len - mn - 1;
      k->frame = malloc(k->frame_len);
      if (k->frame) memcpy(k->frame, data + mn + 1, k->frame_len);
      else k->frame_len = 0, k->idempotent = 0;
    }
    /* Appended at the tail: a new relay sends them again in containerd's order. */
    struct call **pp = &c->calls;
    while (*pp) pp = &(*pp)->next;
    *pp = k;
    c->ncalls++;
    break;
  }
  case OP_DONE: {
    struct conn *c = conn_find(h->id);
    if (c) call_remove(c, h->stream);
    break;
  }
  case OP_HOLD: {
    if (nfds < 1) break;
    struct held *x = calloc(1, sizeof *x);
    if (!x) break;
    x->id = h->id;
    x->fd = fds[0];
    snprintf(x->path, sizeof x->path, "%.*s", (int)strnlen((const char *)data, len), (const char *)data);
    x->next = tab.held;
    tab.held = x;
    tab.nheld++;
    used = 1;
    break;
  }
  case OP_RELEASE:
    for (struct held *x = tab.held; x; x = x->next) {
      if (x->id == h->id) {
        held_remove(x);
        break;
      }
    }
    break;
  case OP_STOP:
    log_info("endpoint stopped by the operator");
    _exit(0);
  }
  for (int i = used; i < nfds; i++) close(fds[i]);
}

static volatile sig_atomic_t terminate;
static void on_term(int sig) {
  (void)sig;
  terminate = 1;
}

void custody_main(int sock) {
  prctl(PR_SET_NAME, "kuasar-custody");
  struct sigaction sa = {.sa_handler = on_term};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  static uint8_t buf[CUSTODY_FRAME_MAX + METHOD_MAX + 64];
  int64_t last_spawn = now_ms();
  int backoff = 100;
  for (;;) {
    if (terminate) {
      /* An operator's stop of custody stops the endpoint: the relay exits with it. */
      if (peer_pid > 0) kill(peer_pid, SIGTERM);
      _exit(0);
    }
    struct pollfd p = {sock, POLLIN, 0};
    if (poll(&p, 1, -1) < 0) continue;
    for (;;) {
      struct custody_head h;
      struct iovec iov[2] = {{&h, sizeof h}, {buf, sizeof buf}};
      union {
        struct cmsghdr h;
        char b[CMSG_SPACE(4 * sizeof(int))];
      } ctl;
      struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
      ssize_t n = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        n = 0; /* ECONNRESET and friends: the relay is gone */
      }
      int fds[4], nfds = 0;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k; i++) {
          int fd;
          memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
          if (nfds < 4) fds[nfds++] = fd;
          else close(fd);
        }
      }
      if (n == 0) {
        /* The relay died: every update it sent was read above; start the next one. */
        close(sock);
        int64_t lived = now_ms() - last_spawn;
        backoff = lived > 5000 ? 100 : (backoff * 2 > 1000 ? 1000 : backoff * 2);
        log_warn("relay %d died after %lld ms; starting a new one in %d ms", (int)peer_pid, (long long)lived, lived > 5000 ? 0 : backoff);
        if (lived <= 5000) usleep((useconds_t)backoff * 1000);
        while ((sock = spawn_relay()) < 0) {
          log_error("cannot start a relay: %s; retrying", strerror(errno));
          sleep(1);
        }
        last_spawn = now_ms();
        break;
      }
      if ((size_t)n < sizeof h || (m.msg_flags & MSG_TRUNC)) {
        for (int i = 0; i < nfds; i++) close(fds[i]);
        continue;
      }
      apply(&h, buf, (size_t)n - sizeof h, fds, nfds);
      /* The relay waits for this to answer Release: the output's last copy is closed now. */
      if (h.op == OP_RELEASE) send(sock, &h.id, sizeof h.id, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
  }
}
