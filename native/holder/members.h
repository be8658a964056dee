/*
 * Members: processes made elsewhere that joined the pod (a wasm pod's host, forked from the
 * node's template into the holder's namespaces). They and their descendants count as the
 * pod's, as the holder's own descendants do: `kill` reaches them and the holder's shutdown
 * ends them.
 */
#ifndef KUASAR_HOLDER_MEMBERS_H
#define KUASAR_HOLDER_MEMBERS_H

#include <stdbool.h>
#include <sys/types.h>

struct holder;
struct client;

/* `member RID PID`: PID, in the holder's network, IPC and UTS namespaces, joins the pod. */
void request_member(struct holder *h, struct client *c, char **f, int n);
/* pid is a live member (one whose process ended is forgotten, so a reused pid is not one). */
bool is_member(struct holder *h, pid_t pid);
/* SIGKILLs every live member (the holder's shutdown). */
void kill_members(struct holder *h);

#endif
