#include "journal.h"

#include "holder.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void journal_open(struct holder *h)
{
	h->journal = openat(h->dirfd, "exits", O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (h->journal < 0)
		die(h, errno, "open %s/exits", h->dir);
	journal_drop_torn_tail(h);
}

/*
 * A line cut short (a holder that died mid-write, a disk that filled mid-line) would
 * otherwise have the next exit glued onto it and both lost to the parser: cut the
 * journal back to its last whole line.
 */
void journal_drop_torn_tail(struct holder *h)
{
	struct stat st;
	if (fstat(h->journal, &st) < 0 || st.st_size == 0)
		return;
	char tail[512];
	off_t end = st.st_size;
	while (end > 0) {
		size_t want = end > (off_t)sizeof tail ? sizeof tail : (size_t)end;
		ssize_t r = pread(h->journal, tail, want, end - (off_t)want);
		if (r != (ssize_t)want)
			return;
		for (size_t i = want; i > 0; i--)
			if (tail[i - 1] == '\n') {
				off_t whole = end - (off_t)want + (off_t)i;
				if (whole != st.st_size && ftruncate(h->journal, whole) < 0)
					logmsg("journal: cannot cut a torn last line: %s", strerror(errno));
				return;
			}
		end -= (off_t)want;
	}
	if (ftruncate(h->journal, 0) < 0)
		logmsg("journal: cannot cut a torn only line: %s", strerror(errno));
}

void journal_append(struct holder *h, pid_t pid, int status, long long sec, long nsec, const char *id)
{
	char line[MAX_ID_LEN + 96];
	int n = snprintf(line, sizeof line, "%d %d %lld %ld %s\n", (int)pid, status, sec, nsec, id);
	if (n < 0 || n >= (int)sizeof line)
		return;
	if (!write_all(h->journal, line, (size_t)n)) {
		int err = errno;
		journal_drop_torn_tail(h); /* a later exit must not be glued onto half of this one */
		logmsg("journal write: %s (exit of pid %d status %d lost from the journal)", strerror(err), (int)pid, status);
	} else if (fdatasync(h->journal) < 0)
		logmsg("journal fdatasync: %s", strerror(errno));
}

int journal_read(struct holder *h, long long from, bool chunked, char **data, size_t *len, long long *size)
{
	struct stat st;
	if (fstat(h->journal, &st) < 0)
		return errno;
	*size = st.st_size > from ? st.st_size - from : 0;
	if (!chunked && *size > HOLDER_MAX_EXITS_LENGTH)
		return EFBIG;
	if (chunked && *size > HOLDER_EXITS_CHUNK_LENGTH)
		*size = HOLDER_EXITS_CHUNK_LENGTH;
	char *d = malloc((size_t)*size + 1);
	if (d == NULL)
		return ENOMEM;
	size_t got = 0;
	while (got < (size_t)*size) {
		ssize_t r = pread(h->journal, d + got, (size_t)*size - got, from + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	/* Whole lines only (a chunk never splits one; a torn tail is never sent). */
	while (got > 0 && d[got - 1] != '\n')
		got--;
	for (size_t i = 0; i < got; i++)
		if (d[i] == '\0')
			d[i] = ' ';
	*data = d;
	*len = got;
	return 0;
}
