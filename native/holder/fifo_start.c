/*
 * `fifostart PATH`: lets a container that crun created in a VM guest run, as `crun start`
 * would. crun's init blocks reading `<root>/<id>/exec.fifo` (its read end opened by `crun
 * create`); `crun start` opens the fifo for writing, removes it (how crun tells created from
 * running) and writes one byte. Under TCG a guest restored from a template translates crun
 * afresh for each program start, a few hundred ms; this is three system calls of pid 1.
 *
 * Non-blocking: a fifo nobody reads (the init died) is ENXIO at once, where a blocking open
 * would hang the agent's loop. Guest pid 1 only, like the setup verbs: on the host kuasard
 * writes the fifo itself.
 */
#include "fifo_start.h"

#include "guest_setup.h"
#include "holder.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The leaf name crun gives the fifo; any other path is refused, so the verb starts containers only. */
static const char EXEC_FIFO[] = "/exec.fifo";

void request_fifostart(struct holder *h, struct client *c, char **f, int n)
{
	(void)n;
	if (guest_only_refused(h, c, f))
		return;
	const char *path = f[2];
	size_t len = strlen(path);
	size_t leaf = sizeof EXEC_FIFO - 1;
	if (path[0] != '/' || len <= leaf || strcmp(path + len - leaf, EXEC_FIFO) != 0)
		FAIL(h, c, f[1], EINVAL, "fifostart: %.256s is not an absolute path to an exec.fifo", path);
	int fd = open(path, O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		FAIL(h, c, f[1], errno, "fifostart %.256s: %s", path, errno == ENXIO ? "no reader: the container process is already dead" : strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		close(fd);
		FAIL(h, c, f[1], EINVAL, "fifostart %.256s: not a FIFO", path);
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		int err = errno;
		close(fd);
		FAIL(h, c, f[1], err, "fifostart %.256s: removing it: %s", path, strerror(err));
	}
	char byte = 0;
	ssize_t w = write(fd, &byte, 1);
	int err = errno;
	close(fd);
	if (w != 1)
		FAIL(h, c, f[1], w < 0 ? err : EIO, "fifostart %.256s: %s", path, w < 0 && err == EPIPE ? "no reader: the container process is already dead" : strerror(w < 0 ? err : EIO));
	reply_ok(h, c, f[1]);
}
