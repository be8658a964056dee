/*
 * kuasar-peercred: prints the peer process of each unix socket it inherits.
 *
 * Usage: kuasar-peercred N   (the sockets are fds 3 .. 3+N-1)
 * Prints one line per socket, in order: "PID UID GID", or "-1 -1 -1" when the
 * fd is not a connected unix socket. Node cannot read SO_PEERCRED itself;
 * kuasard uses this to tell its own peers (kuasar-endpoint) from others.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: kuasar-peercred N\n");
    return 2;
  }
  char *end = NULL;
  long n = strtol(argv[1], &end, 10);
  if (end == argv[1] || *end != '\0' || n < 0 || n > 4096) {
    fprintf(stderr, "kuasar-peercred: bad count %s\n", argv[1]);
    return 2;
  }
  for (long i = 0; i < n; i++) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt((int)(3 + i), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof cred) {
      printf("%ld %ld %ld\n", (long)cred.pid, (long)cred.uid, (long)cred.gid);
    } else {
      printf("-1 -1 -1\n");
    }
  }
  return fflush(stdout) == 0 ? 0 : 1;
}
