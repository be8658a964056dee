/*
 * kuasar-hide-cgroup2 PROGRAM [ARG...]: runs PROGRAM (an OCI runtime) in a mount
 * namespace of its own where the cgroup2 mount of a hybrid host
 * (/sys/fs/cgroup/unified beside the v1 controllers) is gone, so the runtime sees
 * the legacy v1 layout and uses only the v1 controllers.
 *
 * Why: crun refuses a hybrid host whose cgroup2 mount has any controller
 * ("cgroups in hybrid mode not supported"), and it decides the layout by looking
 * at that mount point. Every crun command of a sandboxer runs through this, so all
 * of them agree on the layout.
 *
 * The namespace is made a slave of the host's before anything is unmounted: the
 * unmount never propagates back, while mounts and unmounts of the host still reach
 * it. The namespace ends with the runtime's last process (containers pivot into
 * their own root). Exit status: PROGRAM's, or 125 when the namespace cannot be made.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#define UNIFIED "/sys/fs/cgroup/unified"

int main(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] != '/') {
		fprintf(stderr, "usage: kuasar-hide-cgroup2 /ABSOLUTE/PROGRAM [ARG...]\n");
		return 125;
	}
	if (unshare(CLONE_NEWNS) != 0) {
		fprintf(stderr, "kuasar-hide-cgroup2: unshare(CLONE_NEWNS): %s\n", strerror(errno));
		return 125;
	}
	/* Must succeed before the unmount: a shared mount would carry the unmount to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) {
		fprintf(stderr, "kuasar-hide-cgroup2: making mounts slave: %s\n", strerror(errno));
		return 125;
	}
	/* Not mounted (EINVAL) or absent (ENOENT): nothing to hide. */
	if (umount2(UNIFIED, MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
		fprintf(stderr, "kuasar-hide-cgroup2: unmounting " UNIFIED ": %s\n", strerror(errno));
		return 125;
	}
	execv(argv[1], argv + 1);
	fprintf(stderr, "kuasar-hide-cgroup2: exec %s: %s\n", argv[1], strerror(errno));
	return 125;
}
