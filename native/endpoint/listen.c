#include "listen.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "wire.h"

/* True when something accepts connections on the unix socket at path. */
static int socket_live(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

int listen_unix(const char *path, const char **err) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (path[0] != '/' || strlen(path) >= sizeof a.sun_path) {
    *err = "path must be absolute and at most 107 bytes";
    return -CODE_INVALID_ARGUMENT;
  }
  struct stat st;
  if (lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *err = "exists and is not a socket";
      return -CODE_ALREADY_EXISTS;
    }
    if (socket_live(path)) {
      *err = "a server is already listening there";
      return -CODE_ALREADY_EXISTS;
    }
    unlink(path);
  }
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = strerror(errno);
    return -CODE_INTERNAL;
  }
  mode_t old = umask(0177);
  int r = bind(fd, (struct sockaddr *)&a, sizeof a);
  umask(old);
  if (r < 0 || listen(fd, 1024) < 0) {
    *err = strerror(errno);
    close(fd);
    return -CODE_INTERNAL;
  }
  chmod(path, 0600);
  return fd;
}

