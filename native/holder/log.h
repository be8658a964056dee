/* Log lines and fatal startup errors. */
#ifndef KUASAR_HOLDER_LOG_H
#define KUASAR_HOLDER_LOG_H

#include <sys/types.h>

struct holder;

/* Who the lines are from and where they go (stderr at first, later the log file). */
void log_init(pid_t pid);
void log_set_fd(int fd);
int log_fd(void);

/* One timestamped line. */
void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A startup failure: says why on stderr and to the ready fd, removes the socket and
 * exits (as pid 1: powers off). ERR 0 adds no errno text.
 */
void die(struct holder *h, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));

#endif
