/* A VM guest's machine set up for its pod by the agent's own system calls (`access` ... `sysctl`). */
#ifndef KUASAR_HOLDER_GUEST_SETUP_H
#define KUASAR_HOLDER_GUEST_SETUP_H

#include <stdbool.h>

struct holder;
struct client;

/* Refuses (EPERM) a verb that only a VM guest's pid 1 serves, unless this holder is one; true when refused. */
bool guest_only_refused(struct holder *h, struct client *c, char **f);

/* access RID PATH: ok when PATH is executable (access(2) X_OK), else its errno. */
void request_access(struct holder *h, struct client *c, char **f, int n);
/* hostname RID NAME: sethostname(2). */
void request_hostname(struct holder *h, struct client *c, char **f, int n);
/* linkup RID IFNAME MTU: the link's MTU set and the link up, one RTM_NEWLINK; ENODEV while it is not there. */
void request_linkup(struct holder *h, struct client *c, char **f, int n);
/* addradd RID IFNAME ADDRESS/PREFIX: one RTM_NEWADDR (IPv4 or IPv6); EEXIST when it is already there. */
void request_addradd(struct holder *h, struct client *c, char **f, int n);
/* routeadd RID IFNAME FAMILY DST GATEWAY SCOPE: one RTM_NEWROUTE in the main table; EEXIST when it is already there. */
void request_routeadd(struct holder *h, struct client *c, char **f, int n);
/* sysctl RID KEY VALUE: VALUE written to /proc/sys/KEY (dots or slashes as separators). */
void request_sysctl(struct holder *h, struct client *c, char **f, int n);

#endif
