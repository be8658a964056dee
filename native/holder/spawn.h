/* Launching a process of the pod (`spawn`): its stdio, terminal and exec, reported before it runs. */
#ifndef KUASAR_HOLDER_SPAWN_H
#define KUASAR_HOLDER_SPAWN_H

#include <stdbool.h>

struct holder;
struct client;

/* A client ID: 1..MAX_ID_LEN printable non-space bytes, not "-", not starting with ':'. */
bool valid_id(const char *s);
/* `spawn ID CWD STDIN STDOUT STDERR FLAGS ARGC ARG... ENVC ENV...`: f[0..n) are the request's strings. */
void request_spawn(struct holder *h, struct client *c, char **f, int n);

#endif
