/*
 * kuasar-notify-listen: the receiving end of systemd's notification protocol,
 * for tests and for running a daemon by hand as systemd would. Binds a datagram
 * socket at PATH (or "@name", abstract), prints "listening" once bound, then one
 * line per datagram: the sender's pid (from SCM_CREDENTIALS), a space, and the
 * message with each newline written as "\n" (the two characters).
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: kuasar-notify-listen PATH|@NAME\n");
    return 2;
  }
  const char *name = argv[1];
  size_t n = strlen(name);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  if (n == 0 || n >= sizeof(sa.sun_path)) {
    fprintf(stderr, "kuasar-notify-listen: bad socket name\n");
    return 2;
  }
  memcpy(sa.sun_path, name, n);
  if (name[0] == '@') sa.sun_path[0] = '\0';
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '@' ? 0 : 1));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int on = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0 || bind(fd, (struct sockaddr *)&sa, len) < 0) {
    perror("kuasar-notify-listen");
    return 1;
  }
  printf("listening\n");
  fflush(stdout);
  static char buf[65536];
  for (;;) {
    union {
      struct cmsghdr h;
      char b[CMSG_SPACE(sizeof(struct ucred))];
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.b, .msg_controllen = sizeof(control.b)};
    ssize_t got = recvmsg(fd, &mh, 0);
    if (got < 0) {
      perror("kuasar-notify-listen: recvmsg");
      return 1;
    }
    long pid = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        struct ucred cred;
        memcpy(&cred, CMSG_DATA(c), sizeof(cred));
        pid = cred.pid;
      }
    }
    printf("%ld ", pid);
    for (ssize_t i = 0; i < got; i++) {
      if (buf[i] == '\n') fputs("\\n", stdout);
      else putchar(buf[i]);
    }
    putchar('\n');
    fflush(stdout);
  }
}
