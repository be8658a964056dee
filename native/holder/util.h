/* Small helpers: time, fds, strict numbers. */
#ifndef KUASAR_HOLDER_UTIL_H
#define KUASAR_HOLDER_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* CLOCK_MONOTONIC in milliseconds. */
long long now_ms(void);
/* Closes *fd if open and sets it to -1. */
void close_fd(int *fd);
/* Writes all n bytes (retrying EINTR); false on any other error. */
bool write_all(int fd, const char *p, size_t n);
/* Strict decimal: optional '-', digits, no overflow, within [min, max]. */
bool parse_num(const char *s, long long min, long long max, long long *out);

#endif
