/*
 * The exit journal DIR/exits: one line per reaped process, `PID STATUS SEC NSEC ID\n`,
 * appended and fdatasync'ed before the exit is announced, read back by `exits`.
 */
#ifndef KUASAR_HOLDER_JOURNAL_H
#define KUASAR_HOLDER_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct holder;

/* Opens (creating) DIR/exits for appending; dies on failure. */
void journal_open(struct holder *h);
/* Cuts the journal back to its last whole line. */
void journal_drop_torn_tail(struct holder *h);
/* Appends and syncs one line; a failure is logged (the exit is still announced). */
void journal_append(struct holder *h, pid_t pid, int status, long long sec, long nsec, const char *id);

/*
 * Reads the journal from byte offset from: all of it (at most HOLDER_MAX_EXITS_LENGTH,
 * else EFBIG with *size the length left) or, chunked, at most HOLDER_EXITS_CHUNK_LENGTH;
 * whole lines only. Returns 0 with *data (malloc'ed, caller frees) and *len, or an errno.
 */
int journal_read(struct holder *h, long long from, bool chunked, char **data, size_t *len, long long *size);

#endif
