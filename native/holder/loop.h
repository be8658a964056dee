/* The holder's one poll(2) loop: signals, clients, pumps, terminals, timers. */
#ifndef KUASAR_HOLDER_LOOP_H
#define KUASAR_HOLDER_LOOP_H

struct holder;

/* Blocks SIGCHLD and SIGTERM into h->sigfd and ignores SIGPIPE, SIGHUP and SIGINT; dies on failure. */
void signals_init(struct holder *h);
/* Runs until shutdown or SIGTERM (which exit the process). */
void loop(struct holder *h) __attribute__((noreturn));

#endif
