/*
 * kuasar-notify: systemd's notification protocol for a daemon that cannot send
 * unix datagrams (Node). Started by the daemon with NOTIFY_SOCKET in its
 * environment and the daemon's pid as its argument; reads NUL-terminated
 * messages ("READY=1", "WATCHDOG=1", "STATUS=...") from stdin and sends each as
 * one datagram to NOTIFY_SOCKET (a path, or "@name" for an abstract socket),
 * with SCM_CREDENTIALS naming the daemon's pid so systemd attributes it to the
 * service's main process (root may send another pid; without the privilege it
 * sends its own). Exits at EOF of stdin, or when the daemon dies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_MESSAGE 4096

static int notify_address(const char *name, struct sockaddr_un *sa, socklen_t *len) {
  size_t n = strlen(name);
  if (n == 0 || n >= sizeof(sa->sun_path)) return -1;
  if (name[0] != '/' && name[0] != '@') return -1;
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path, name, n);
  if (name[0] == '@') sa->sun_path[0] = '\0'; /* abstract: no terminating NUL counted */
  *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '/' ? 1 : 0));
  return 0;
}

/* Sends one datagram with the daemon's credentials, falling back to our own. */
static void send_message(int fd, const struct sockaddr_un *sa, socklen_t len, const char *msg, size_t n, pid_t pid) {
  struct iovec iov = {.iov_base = (void *)msg, .iov_len = n};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(struct ucred))];
  } control;
  memset(&control, 0, sizeof(control));
  struct msghdr mh = {.msg_name = (void *)sa, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof(control.buf)};
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_CREDENTIALS;
  c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
  struct ucred cred = {.pid = pid, .uid = getuid(), .gid = getgid()};
  memcpy(CMSG_DATA(c), &cred, sizeof(cred));
  if (sendmsg(fd, &mh, MSG_NOSIGNAL) >= 0) return;
  if (errno == EPERM || errno == ESRCH) {
    mh.msg_control = NULL;
    mh.msg_controllen = 0;
    if (sendmsg(fd, &mh, MSG_NOSIGNAL) >= 0) return;
  }
  fprintf(stderr, "kuasar-notify: send to %s: %s\n", sa->sun_path[0] ? sa->sun_path : sa->sun_path + 1, strerror(errno));
}

int main(int argc, char **argv) {
  const char *socket_name = getenv("NOTIFY_SOCKET");
  if (argc != 2 || socket_name == NULL) {
    fprintf(stderr, "usage: NOTIFY_SOCKET=PATH|@NAME kuasar-notify DAEMON_PID < messages (NUL-terminated)\n");
    return 2;
  }
  pid_t pid = (pid_t)atoi(argv[1]);
  struct sockaddr_un sa;
  socklen_t len;
  if (notify_address(socket_name, &sa, &len) < 0) {
    fprintf(stderr, "kuasar-notify: NOTIFY_SOCKET %s is neither an absolute path nor @abstract of at most %zu bytes\n", socket_name, sizeof(sa.sun_path) - 1);
    return 2;
  }
  /* The daemon's death ends us too (stdin's EOF does as well, unless a child of the daemon kept the pipe). */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != pid) return 0;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    perror("kuasar-notify: socket");
    return 1;
  }
  static char msg[MAX_MESSAGE];
  size_t n = 0;
  for (;;) {
    int ch = getchar();
    if (ch == EOF) break;
    if (ch != '\0') {
      if (n < sizeof(msg)) msg[n++] = (char)ch;
      continue;
    }
    if (n > 0) send_message(fd, &sa, len, msg, n, pid);
    n = 0;
  }
  return 0;
}
