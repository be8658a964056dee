/* kuasar-endpoint: owns containerd's ttrpc sockets and connections and relays them to
 * the restartable kuasard (docs/adr/0002-crash-domains.md), in two processes that keep
 * each other's sockets (docs/adr/0005-endpoint-custody.md).
 *
 * usage: kuasar-endpoint --control PATH --backend PATH [--log-level LEVEL]
 * Started by kuasard, detached; prints "ready <relay pid>" on fd 3 once the control
 * socket listens. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "listen.h"
#include "custody.h"
#include "log.h"
#include "table.h"

static int level_of(const char *s) {
  if (!strcmp(s, "trace") || !strcmp(s, "debug")) return LOG_DEBUG;
  if (!strcmp(s, "info")) return LOG_INFO;
  if (!strcmp(s, "warn")) return LOG_WARN;
  if (!strcmp(s, "error") || !strcmp(s, "fatal") || !strcmp(s, "silent")) return LOG_ERROR;
  return -1;
}

static void usage(void) {
  fprintf(stderr, "usage: kuasar-endpoint --control PATH --backend PATH [--log-level LEVEL]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *control = NULL, *backend = NULL;
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) usage();
    if (!strcmp(argv[i], "--control")) control = argv[++i];
    else if (!strcmp(argv[i], "--backend")) backend = argv[++i];
    else if (!strcmp(argv[i], "--log-level")) {
      if ((log_threshold = level_of(argv[++i])) < 0) usage();
    } else usage();
  }
  if (!control || !backend || strlen(backend) > 107 || strlen(control) > 107) usage();
  snprintf(tab.backend_path, sizeof tab.backend_path, "%s", backend);

  /* Every containerd connection costs two fds in each process. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  /* Children are reaped by the kernel; writes to dead peers fail with EPIPE, not a signal. */
  signal(SIGCHLD, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);

  const char *err = "";
  int fd = listen_unix(control, &err);
  if (fd < 0) {
    fprintf(stderr, "kuasar-endpoint: control socket %s: %s\n", control, err);
    return 1;
  }
  struct listener *l = calloc(1, sizeof *l);
  if (!l) return 1;
  l->id = tab.next_id++;
  l->fd = fd;
  snprintf(l->path, sizeof l->path, "%s", control);
  tab.listeners = l;

  int sock = spawn_relay();
  if (sock < 0) {
    fprintf(stderr, "kuasar-endpoint: cannot start the relay: %s\n", strerror(errno));
    return 1;
  }
  char ready[64];
  int n = snprintf(ready, sizeof ready, "ready %d\n", (int)peer_pid);
  if (write(3, ready, (size_t)n) == n) close(3);
  log_info("endpoint ready: control %s, backend %s", control, backend);
  custody_main(sock);
}
