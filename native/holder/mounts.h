/* Mounts for the daemon (a container's rootfs): one system call here instead of a mount(8) there. */
#ifndef KUASAR_HOLDER_MOUNTS_H
#define KUASAR_HOLDER_MOUNTS_H

struct holder;
struct client;

/* mount RID SOURCE TARGET FSTYPE FLAGS DATA CWD: mount(2) as given (FLAGS: MS_* bits, decimal), from CWD if not empty. */
void request_mount(struct holder *h, struct client *c, char **f, int n);
/* umount RID TARGET: umount2(2), detached when busy; EINVAL when TARGET is not a mount point. */
void request_umount(struct holder *h, struct client *c, char **f, int n);

#endif
