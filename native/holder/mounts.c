#include "mounts.h"

#include "log.h"
#include "server.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

/*
 * The holder runs in the host's mount namespace (it mounts the pod's shm there too), so a
 * mount made here is the one the OCI runtime finds under the bundle. The daemon parses
 * mount(8)-style options into flags and data (src/fs/mount-calls.ts); only what the kernel
 * takes crosses the wire, and empty SOURCE, FSTYPE or DATA mean NULL.
 */
void request_mount(struct holder *h, struct client *c, char **f, int n)
{
	(void)n;
	long long flags;
	if (f[3][0] != '/' || (f[7][0] != '\0' && f[7][0] != '/'))
		FAIL(h, c, f[1], EINVAL, "mount: TARGET and CWD must be absolute paths");
	if (!parse_num(f[5], 0, 0xffffffffLL, &flags))
		FAIL(h, c, f[1], EINVAL, "mount: bad flags %.32s", f[5]);
	const char *src = f[2][0] ? f[2] : NULL, *type = f[4][0] ? f[4] : NULL, *data = f[6][0] ? f[6] : NULL;
	/*
	 * CWD: the directory DATA's relative paths start from. The kernel reads at most a page of
	 * DATA, so an overlay of many layers names them relative to the directory they share.
	 */
	int here = -1;
	if (f[7][0] != '\0') {
		if ((here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 || chdir(f[7]) < 0) {
			int err = errno;
			if (here >= 0)
				close(here);
			FAIL(h, c, f[1], err, "mount: cwd %.256s: %s", f[7], strerror(err));
		}
	}
	int rc = mount(src, f[3], type, (unsigned long)flags, data), err = errno;
	if (here >= 0) {
		if (fchdir(here) < 0)
			logmsg("mount: back from %s: %s", f[7], strerror(errno));
		close(here);
	}
	if (rc < 0)
		FAIL(h, c, f[1], err, "mount %.32s on %.256s: %s", f[4][0] ? f[4] : "-", f[3], strerror(err));
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
