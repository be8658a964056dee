/*
 * Reaping: every exit of a child (the holder is the pod's subreaper) is journaled,
 * then announced to every client as an `exit` event; and on shutdown, killing
 * every process of the pod.
 */
#ifndef KUASAR_HOLDER_REAPER_H
#define KUASAR_HOLDER_REAPER_H

#include <stdbool.h>
#include <sys/types.h>

struct holder;
struct rec;
struct recent_exit;

/* Reaps (and journals and announces) every child that exited. */
void reap_all(struct holder *h);
/* Sends the `exit` event to every client. */
void send_exit_event(struct holder *h, pid_t pid, int status, long long sec, long nsec, const char *id);
/* Sends the exit events r held back while its terminal output drained. */
void flush_pending(struct holder *h, struct rec *r);
/* Takes the unclaimed exit of pid reaped before an `adopt` named it; false if none. */
bool recent_take(struct holder *h, pid_t pid, struct recent_exit *out);
/* pid descends from the holder or from a member (its parent chain in /proc reaches one). */
bool is_descendant(struct holder *h, pid_t pid);
/* pid is a process of this pod: recorded, the pod init, a member, or a descendant. */
bool is_known(struct holder *h, pid_t pid);
/* SIGKILLs every known process and every child, reaping (and journaling) them, until none is left. */
void kill_everything(struct holder *h);

#endif
