/* A guest restored from a VM template taking on its own identity (the `restored` request). */
#ifndef KUASAR_HOLDER_RESTORED_H
#define KUASAR_HOLDER_RESTORED_H

struct holder;
struct client;

/* restored RID SEC NSEC SEED DIR: sets the clock, reseeds the RNG, moves the journal to DIR. */
void request_restored(struct holder *h, struct client *c, char **f, int n);

#endif
