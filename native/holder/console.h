/*
 * Terminals: the holder listens on the spawn's console socket (runc
 * `--console-socket`), receives the terminal master over it and pumps or streams it.
 */
#ifndef KUASAR_HOLDER_CONSOLE_H
#define KUASAR_HOLDER_CONSOLE_H

struct rec;

/* Listens on a fresh unix socket at path (replacing a stale socket); 0 or an errno. */
int console_listen(const char *path, int *out);
/* Accepts the connection that will carry the master, if it is there. */
void console_try_accept(struct rec *r);
/* Receives the master, if it was sent, and starts pumping it. */
void console_try_recv(struct rec *r);
/* Closes and removes the listening console socket. */
void console_listener_close(struct rec *r);

#endif
