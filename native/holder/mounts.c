#include "mounts.h"

#include "server.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/mount.h>

/*
 * The holder runs in the host's mount namespace (it mounts the pod's shm there too), so a
 * mount made here is the one the OCI runtime finds under the bundle. The daemon parses
 * mount(8)-style options into flags and data (src/fs/mount-options.ts); only what the kernel
 * takes crosses the wire, and empty SOURCE, FSTYPE or DATA mean NULL.
 */
void request_mount(struct holder *h, struct client *c, char **f, int n)
{
	(void)n;
	long long flags;
	if (f[3][0] != '/')
		FAIL(h, c, f[1], EINVAL, "mount: %.64s is not an absolute path", f[3]);
	if (!parse_num(f[5], 0, 0xffffffffLL, &flags))
		FAIL(h, c, f[1], EINVAL, "mount: bad flags %.32s", f[5]);
	const char *src = f[2][0] ? f[2] : NULL, *type = f[4][0] ? f[4] : NULL, *data = f[6][0] ? f[6] : NULL;
	if (mount(src, f[3], type, (unsigned long)flags, data) < 0)
		FAIL(h, c, f[1], errno, "mount %.32s on %.256s: %s", f[4][0] ? f[4] : "-", f[3], strerror(errno));
	reply_ok(h, c, f[1]);
}

void request_umount(struct holder *h, struct client *c, char **f, int n)
{
	(void)n;
	if (f[2][0] != '/')
		FAIL(h, c, f[1], EINVAL, "umount: %.64s is not an absolute path", f[2]);
	int rc = umount2(f[2], UMOUNT_NOFOLLOW);
	if (rc < 0 && errno == EBUSY)
		rc = umount2(f[2], UMOUNT_NOFOLLOW | MNT_DETACH); /* what `umount -l` does: gone for new lookups now */
	if (rc < 0)
		FAIL(h, c, f[1], errno, "umount %.256s: %s", f[2], strerror(errno));
	reply_ok(h, c, f[1]);
}
