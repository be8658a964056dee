/* Custody: the second process of the endpoint. It holds a copy of every socket the
 * relay owns (listeners, containerd's connections, kuasard's) and of the calls in
 * flight, so that whichever of the two dies, the other starts a replacement that
 * continues with the same connections (the pattern of systemd's fd store). */
#ifndef KUASAR_ENDPOINT_CUSTODY_H
#define KUASAR_ENDPOINT_CUSTODY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum custody_op {
  OP_LISTENER = 1, /* data: route NUL path NUL; fds: listener */
  OP_CONN,         /* data: route; fds: containerd[, kuasard] */
  OP_BACKEND,      /* fds: the new kuasard connection, none when it went away */
  OP_DROP_CONN,
  OP_CALL,         /* flags: CALL_IDEMPOTENT; data: method NUL [request frame] */
  OP_DONE,
  OP_STOP,         /* the operator stopped the endpoint: exit, do not respawn */
  OP_HOLD,         /* data: path; fds: the FIFO's write end */
  OP_RELEASE,
};

#define CALL_IDEMPOTENT 1
/* Largest request frame kept in custody (idempotent calls are small). */
#define CUSTODY_FRAME_MAX (60u << 10)

struct custody_head {
  uint32_t op, id, stream, flags;
  int64_t deadline_ms;
};

/* Relay side: sends one update (blocking; the custody process is trusted and quick).
 * When the custody process is gone, starts a new one from the relay's current table.
 * Returns 0 when the update reached the custody process it was meant for. */
int custody_send(uint32_t op, uint32_t id, uint32_t stream, uint32_t flags, int64_t deadline_ms, const void *data, size_t len, const int *fds, int nfds);

/* Relay side: tells custody to close the held output `id` (already gone from the relay's
 * table) and waits, up to a bound, until it has: after Release the reader sees the end. */
void custody_release(uint32_t id);

/* The relay's end of the custody channel (-1 before the first). */
extern int custody_fd;
/* Pid of the process at the other end (custody for the relay, relay for custody). */
extern pid_t peer_pid;
/* Set once the operator stopped the endpoint: a lost custody process is not replaced. */
extern int endpoint_stopping;
/* Relays started so far by custody processes (carried along in the table's copies). */
extern uint32_t relay_generation;

/* Relay side: the custody process died (EOF on custody_fd): fork a new one. */
void custody_respawn(void);

/* Custody side: runs forever; starts the first relay when none is connected. */
void custody_main(int relay_sock) __attribute__((noreturn));

/* Starts a relay process serving the table; returns the custody end of its channel. */
int spawn_relay(void);

#endif
