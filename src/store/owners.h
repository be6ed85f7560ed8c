/*
 * owners.h: the cluster's nodes and the owners of objects, in the store's
 * database (PostgreSQL; SQLite answers DURO_ENOTSUP). The calls run on the
 * storage worker inside a module job (duro_store_run), like eventlog.h.
 *
 * Time is PostgreSQL's clock (clock_timestamp()), so the nodes' clocks
 * need not agree. A node holds a lease that it renews; an object belongs
 * to at most one node at a time, at an epoch that grows by one with every
 * claim. A claim succeeds only when the object has no owner, when its
 * owner's lease has lapsed (or its node is gone), or when the claimer is
 * the owner's node id already (a new incarnation after a restart); of
 * racing claims exactly one wins (the row's lock). The owner's fenced
 * commits (duro_store_batch_fence) check the same row in their own
 * transaction, so a node that lost an object cannot write to it, whether
 * it knows yet or not.
 */
#ifndef DURO_STORE_OWNERS_H
#define DURO_STORE_OWNERS_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define DURO_NODE_ID_MAX 64    /* bytes, without the NUL */
#define DURO_ADVERTISE_MAX 255 /* bytes, without the NUL */

typedef struct duro_owner {
  char node_id[DURO_NODE_ID_MAX + 1];
  char advertise[DURO_ADVERTISE_MAX + 1]; /* "" if its node row is gone */
  int64_t epoch;
  int live; /* its node's lease has not lapsed */
} duro_owner_t;

/*
 * Registers node_id, reachable at advertise, with a lease of lease_ms.
 * 0; DURO_EBUSY when a live node holds that id (its lease has not lapsed:
 * a second process with the same --node-id, or this one's previous life
 * not yet expired); another negative code with why.
 */
int duro_owners_register(duro_store_db_t *db, const char *node_id,
                         const char *advertise, unsigned lease_ms, char *why,
                         size_t whylen);

/* Extends node_id's lease to lease_ms from now. 0; DURO_ESTALE when it had
 * already lapsed (others may own its objects now: it must stop serving
 * them and register again); another code on a database failure. */
int duro_owners_renew(duro_store_db_t *db, const char *node_id,
                      unsigned lease_ms);

/*
 * Claims object_id for node_id (whose lease must be live). 1 with *out
 * the new claim (this node, the new epoch); 0 when another live node owns
 * it, with *out naming that owner; DURO_ESTALE when node_id's own lease
 * has lapsed; another negative code on a database failure.
 */
int duro_owners_claim(duro_store_db_t *db, const char *node_id,
                      const char *object_id, duro_owner_t *out);

/* The owner of object_id (without claiming): 0 with *out, DURO_ENOENT
 * when nobody ever claimed it. */
int duro_owners_lookup(duro_store_db_t *db, const char *object_id,
                       duro_owner_t *out);

/* Ends node_id's lease now (a clean shutdown: its objects may be claimed
 * at once). Its claims stay, so epochs keep growing. */
int duro_owners_release(duro_store_db_t *db, const char *node_id);

/* The live nodes, ordered by id: *out (free with duro_free) of *n. */
int duro_owners_live(duro_store_db_t *db, duro_owner_t **out, size_t *n);

/* The alarms of object_id (read after claiming it, so the new owner fires
 * them): rows as duro_store_load_alarms gives them (free with
 * duro_store_alarms_free). */
int duro_owners_object_alarms(duro_store_db_t *db, const char *object_id,
                              duro_alarm_row_t **out, size_t *n);

/* The alarms of the objects whose owner row names node_id: read by a new
 * life of that node as it registers (its previous life's objects are
 * its own to fire). */
int duro_owners_node_alarms(duro_store_db_t *db, const char *node_id,
                            duro_alarm_row_t **out, size_t *n);

/* The alarms due before due_before_ms whose object has no live owner (it
 * never had one, or its node's lease lapsed): a live node adopts them,
 * claims the object when one is due and fires it. At most limit rows, by
 * due time. */
int duro_owners_orphan_alarms(duro_store_db_t *db, int64_t due_before_ms,
                              unsigned limit, duro_alarm_row_t **out,
                              size_t *n);

#endif
