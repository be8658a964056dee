/* The relay: serves containerd's ttrpc connections and passes every frame, whole, to
 * a kuasard connection of its own (one per containerd connection, so stream ids are
 * never rewritten). It tracks the calls in flight so that calls safe to repeat are sent
 * again when kuasard restarts, and the others are answered UNAVAILABLE. */
#ifndef KUASAR_ENDPOINT_RELAY_H
#define KUASAR_ENDPOINT_RELAY_H

#include <stddef.h>
#include <stdint.h>

/* Runs the relay over the inherited table; never returns. */
void relay_main(void) __attribute__((noreturn));

/* Starts serving containerd on `path` under `route`; 0 or a status code with *err set. */
int relay_listen(const char *route, const char *path, const char **err);

/* Status counters for the control API. */
uint32_t relay_pending_calls(void);
int relay_backend_reachable(void);

/* Custody bookkeeping hooks. */
void relay_forget_fd(int fd);
void relay_watch_custody(void);

/* Queues bytes for fd (writing what it can now); 0 or -1 when the peer is gone. */
struct outbuf;
int out_write(int fd, struct outbuf *o, const uint8_t *data, size_t len);

#endif
