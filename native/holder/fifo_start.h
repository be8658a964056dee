/* A container crun created in a VM guest started by the agent itself (`fifostart`), not by `crun start`. */
#ifndef KUASAR_HOLDER_FIFO_START_H
#define KUASAR_HOLDER_FIFO_START_H

struct holder;
struct client;

/* fifostart RID PATH: PATH (`.../exec.fifo`) opened for writing without blocking, removed, one byte written. */
void request_fifostart(struct holder *h, struct client *c, char **f, int n);

#endif
