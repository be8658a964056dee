/*
 * Every VM restored from one template wakes up as the same guest: the clock reads
 * the moment the template was saved, the kernel's random generator is in the same
 * state in each, and the agent's directory is the one the template had (its share
 * is hot-plugged after the restore). The host sends `restored` once per VM, before
 * anything else runs in it.
 */
#include "restored.h"

#include "base64.h"
#include "holder.h"
#include "journal.h"
#include "log.h"
#include "server.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/random.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { MAX_SEED = 512 };

/* Mixes the host's seed in, credited as entropy, and makes the kernel re-key its generator from it now. */
static int reseed(const unsigned char *seed, size_t n)
{
	struct {
		struct rand_pool_info info;
		unsigned char buf[MAX_SEED];
	} p;
	p.info.entropy_count = (int)(n * 8);
	p.info.buf_size = (int)n;
	memcpy(p.buf, seed, n);
	int fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno;
	int err = 0;
	if (ioctl(fd, RNDADDENTROPY, &p) < 0 || ioctl(fd, RNDRESEEDCRNG) < 0)
		err = errno;
	close(fd);
	return err;
}

/* Copies what the old journal holds to the end of the new one, so that no exit is lost in the move. */
static int carry_journal(int from, int to)
{
	char buf[8192];
	for (off_t off = 0;;) {
		ssize_t r = pread(from, buf, sizeof buf, off);
		if (r < 0)
			return errno;
		if (r == 0)
			return 0;
		if (!write_all(to, buf, (size_t)r))
			return errno;
		off += r;
	}
}

/* Points the holder at a new directory (the share, mounted after the restore): its journal follows. */
static int move_dir(struct holder *h, const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return errno;
	char *real = realpath(dir, NULL);
	if (real == NULL)
		return errno;
	int dirfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		int err = errno;
		free(real);
		return err;
	}
	/* The same name may be another directory now (the share mounted over it): compare the directories. */
	struct stat now, was;
	if (fstat(dirfd, &now) == 0 && fstat(h->dirfd, &was) == 0 && now.st_dev == was.st_dev && now.st_ino == was.st_ino) {
		close(dirfd);
		free(real);
		return 0;
	}
	int journal = openat(dirfd, "exits", O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	int err = journal < 0 ? errno : carry_journal(h->journal, journal);
	if (err == 0 && fsync(journal) < 0)
		err = errno;
	if (err != 0) {
		if (journal >= 0)
			close(journal);
		close(dirfd);
		free(real);
		return err;
	}
	close(h->journal);
	close(h->dirfd);
	h->journal = journal;
	h->dirfd = dirfd;
	free(h->dir);
	h->dir = real;
	logmsg("dir moved to %s", h->dir);
	return 0;
}

void request_restored(struct holder *h, struct client *c, char **f, int n)
{
	long long sec, nsec;
	if (!h->serve || !h->init) /* the clock is the whole machine's: only a guest's own pid 1 may set it */
		FAIL(h, c, f[1], EPERM, "restored: only a VM guest's agent (pid 1) takes a restored identity");
	if (n != 6 || !parse_num(f[2], 0, LLONG_MAX, &sec) || !parse_num(f[3], 0, 999999999, &nsec))
		FAIL(h, c, f[1], EINVAL, "restored: expected SEC NSEC SEED DIR");
	unsigned char seed[MAX_SEED];
	size_t seedn = 0;
	size_t len = strlen(f[4]);
	if (len > (MAX_SEED / 3) * 4 || !b64_decode(f[4], len, seed, &seedn))
		FAIL(h, c, f[1], EINVAL, "restored: SEED must be base64 of at most %d bytes", MAX_SEED);
	if (f[5][0] != '\0' && f[5][0] != '/')
		FAIL(h, c, f[1], EINVAL, "restored: DIR must be absolute or empty");
	struct timespec now = { .tv_sec = (time_t)sec, .tv_nsec = (long)nsec };
	if (clock_settime(CLOCK_REALTIME, &now) < 0)
		FAIL(h, c, f[1], errno, "restored: setting the clock: %s", strerror(errno));
	if (seedn > 0) {
		int err = reseed(seed, seedn);
		if (err != 0)
			FAIL(h, c, f[1], err, "restored: reseeding the RNG: %s", strerror(err));
	}
	if (f[5][0] != '\0') {
		int err = move_dir(h, f[5]);
		if (err != 0)
			FAIL(h, c, f[1], err, "restored: moving to %.256s: %s", f[5], strerror(err));
	}
	logmsg("restored: clock set, %zu seed bytes", seedn);
	reply_ok(h, c, f[1]);
}
