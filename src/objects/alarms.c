/*
 * alarms.c: every scheduled alarm of the process, live object or not, and
 * the alarm changes an event stages.
 *
 * The index. Each alarm is in a chained hash table on its object's id
 * (found by object and name, counted per object: an object has at most
 * DURO_MAX_ALARMS_PER_OBJECT) and, unless it is running, in a binary
 * min-heap on its due time whose entries know their own index, so that
 * setting, deleting or moving an alarm costs O(log n) and the earliest is
 * O(1). Nothing scans every alarm. The one timer (events.c) is armed for
 * the heap's top.
 *
 * Running. A due alarm is taken off the heap and marked running until its
 * event has run; it stays in the table, so the object's count and
 * duro_alarm_get (which does not report it) see it. Deleted or replaced
 * meanwhile, it leaves the table too (running = 2) and its event frees it.
 *
 * Staging. duro_alarm_set/delete only record the change in the event (and
 * in its write batch); duro__alarms_apply makes them real once the event
 * succeeds, duro__alarms_discard drops them when it fails.
 *
 * Calls only registry.c inside objects/ (see object.h).
 */
#include "objects/alarms.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "objects/registry.h"

/* ---- the heap ------------------------------------------------------------------ */

static void place(duro_alarm_heap_t *h, size_t i, alarm_ent_t *a) {
  h->v[i] = a;
  a->heap_idx = i;
}

static void sift_up(duro_alarm_heap_t *h, size_t i) {
  alarm_ent_t *a = h->v[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (h->v[parent]->due <= a->due)
      break;
    place(h, i, h->v[parent]);
    i = parent;
  }
  place(h, i, a);
}

static void sift_down(duro_alarm_heap_t *h, size_t i) {
  alarm_ent_t *a = h->v[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n)
      break;
    if (c + 1 < h->n && h->v[c + 1]->due < h->v[c]->due)
      c++;
    if (a->due <= h->v[c]->due)
      break;
    place(h, i, h->v[c]);
    i = c;
  }
  place(h, i, a);
}

/* Moves the entry at i up or down to where its due time belongs. */
static void fix(duro_alarm_heap_t *h, size_t i) {
  if (i > 0 && h->v[i]->due < h->v[(i - 1) / 2]->due)
    sift_up(h, i);
  else
    sift_down(h, i);
}

void duro__alarm_heap_push(duro_alarm_heap_t *h, alarm_ent_t *a) {
  if (h->n == h->cap) {
    h->cap = h->cap ? h->cap * 2 : 16;
    h->v = duro_realloc(h->v, h->cap * sizeof(*h->v));
  }
  place(h, h->n++, a);
  sift_up(h, h->n - 1);
}

void duro__alarm_heap_remove(duro_alarm_heap_t *h, alarm_ent_t *a) {
  size_t i = a->heap_idx;
  alarm_ent_t *last = h->v[--h->n];
  a->heap_idx = DURO_ALARM_NOT_QUEUED;
  if (i < h->n) {
    place(h, i, last);
    fix(h, i);
  }
}

void duro__alarm_heap_update(duro_alarm_heap_t *h, alarm_ent_t *a) {
  fix(h, a->heap_idx);
}

void duro__alarm_heap_free(duro_alarm_heap_t *h) {
  duro_free(h->v);
  h->v = NULL;
  h->n = h->cap = 0;
}

/* ---- the index ------------------------------------------------------------------ */

static size_t bucket_of(size_t nbuckets, const char *id) {
  uint64_t h = 0;
  for (int i = 0; i < 16; i++)
    h = h * 16 + (uint64_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
  return (size_t)(h & (nbuckets - 1));
}

static void index_grow(duro_runtime_t *rt) {
  size_t old_n = rt->nalarm_buckets;
  alarm_ent_t **old = rt->alarm_buckets;
  rt->nalarm_buckets = old_n ? old_n * 2 : 64;
  rt->alarm_buckets = duro_calloc(rt->nalarm_buckets, sizeof(*old));
  for (size_t i = 0; i < old_n; i++)
    for (alarm_ent_t *a = old[i], *next; a; a = next) {
      next = a->hash_next;
      size_t b = bucket_of(rt->nalarm_buckets, a->id);
      a->hash_next = rt->alarm_buckets[b];
      rt->alarm_buckets[b] = a;
    }
  duro_free(old);
}

/* Adds a new alarm to the index (and, not running, to the heap). */
static void index_insert(duro_runtime_t *rt, alarm_ent_t *a) {
  if (rt->nalarms + 1 > rt->nalarm_buckets)
    index_grow(rt);
  size_t b = bucket_of(rt->nalarm_buckets, a->id);
  a->hash_next = rt->alarm_buckets[b];
  rt->alarm_buckets[b] = a;
  rt->nalarms++;
  a->heap_idx = DURO_ALARM_NOT_QUEUED;
  if (!a->running)
    duro__alarm_heap_push(&rt->alarm_heap, a);
}

/* Takes a out of the index and the heap; the caller frees it or hands
 * it to its running event. */
static void index_remove(duro_runtime_t *rt, alarm_ent_t *a) {
  alarm_ent_t **p = &rt->alarm_buckets[bucket_of(rt->nalarm_buckets, a->id)];
  while (*p && *p != a)
    p = &(*p)->hash_next;
  if (*p)
    *p = a->hash_next;
  a->hash_next = NULL;
  rt->nalarms--;
  if (a->heap_idx != DURO_ALARM_NOT_QUEUED)
    duro__alarm_heap_remove(&rt->alarm_heap, a);
}

static alarm_ent_t *alarm_new(const char *id, ns_t *ns, const char *obj_name,
                              const char *name, int64_t due) {
  alarm_ent_t *a = duro_calloc(1, sizeof(*a));
  memcpy(a->id, id, 65);
  a->ns = ns;
  a->obj_name = obj_name ? duro_strdup(obj_name) : NULL;
  a->name = duro_strdup(name);
  a->due = due;
  a->heap_idx = DURO_ALARM_NOT_QUEUED;
  return a;
}

void duro__alarm_free(alarm_ent_t *a) {
  duro_free(a->obj_name);
  duro_free(a->name);
  duro_free(a);
}

alarm_ent_t *duro__alarm_find(const duro_runtime_t *rt, const char *id,
                              const char *name) {
  if (!rt->nalarm_buckets)
    return NULL;
  for (alarm_ent_t *a = rt->alarm_buckets[bucket_of(rt->nalarm_buckets, id)];
       a; a = a->hash_next)
    if (memcmp(a->id, id, 64) == 0 && strcmp(a->name, name) == 0)
      return a;
  return NULL;
}

size_t duro__alarm_count(const duro_runtime_t *rt, const char *id) {
  size_t n = 0;
  if (!rt->nalarm_buckets)
    return 0;
  for (alarm_ent_t *a = rt->alarm_buckets[bucket_of(rt->nalarm_buckets, id)];
       a; a = a->hash_next)
    if (memcmp(a->id, id, 64) == 0)
      n++;
  return n;
}

int64_t duro__alarm_next_due(const duro_runtime_t *rt) {
  const alarm_ent_t *top = duro__alarm_heap_top(&rt->alarm_heap);
  return top ? top->due : INT64_MAX;
}

alarm_ent_t *duro__alarm_take_due(duro_runtime_t *rt, int64_t now) {
  alarm_ent_t *a = duro__alarm_heap_top(&rt->alarm_heap);
  if (!a || a->due > now)
    return NULL;
  duro__alarm_heap_remove(&rt->alarm_heap, a);
  a->running = 1;
  return a;
}

void duro__alarm_requeue(duro_runtime_t *rt, alarm_ent_t *a, int64_t due) {
  a->due = due;
  if (a->heap_idx == DURO_ALARM_NOT_QUEUED)
    duro__alarm_heap_push(&rt->alarm_heap, a);
  else
    duro__alarm_heap_update(&rt->alarm_heap, a);
}

size_t duro__alarms_restore(duro_runtime_t *rt, const duro_alarm_row_t *rows,
                            size_t n) {
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    ns_t *ns = duro__ns_find(
        rt, rows[i].namespace_name,
        strlen(rows[i].namespace_name)); /* C string: an SQLite text */
    if (!ns) {
      duro_log_warn("alarm of object %s in unbound namespace '%s' ignored",
                    rows[i].object_id, rows[i].namespace_name);
      continue;
    }
    alarm_ent_t *a =
        duro__alarm_find(rt, rows[i].object_id, rows[i].alarm_name);
    if (a && a->running) /* firing: what it leaves behind is stored */
      continue;
    if (a) /* known already (a claim reads what an adoption read) */
      duro__alarm_requeue(rt, a, rows[i].due_ms);
    else
      index_insert(rt, alarm_new(rows[i].object_id, ns, rows[i].object_name,
                                 rows[i].alarm_name, rows[i].due_ms));
    kept++;
  }
  return kept;
}

void duro__alarms_forget(duro_runtime_t *rt, const char *id) {
  if (!rt->nalarm_buckets)
    return;
  alarm_ent_t **p = &rt->alarm_buckets[bucket_of(rt->nalarm_buckets, id)];
  while (*p) {
    alarm_ent_t *a = *p;
    if (memcmp(a->id, id, 64) != 0) {
      p = &a->hash_next;
      continue;
    }
    index_remove(rt, a); /* unlinks *p */
    if (a->running)
      a->running = 2; /* its event frees it */
    else
      duro__alarm_free(a);
  }
}

void duro__alarms_free(duro_runtime_t *rt) {
  for (size_t i = 0; i < rt->nalarm_buckets; i++)
    for (alarm_ent_t *a = rt->alarm_buckets[i], *next; a; a = next) {
      next = a->hash_next;
      duro__alarm_free(a);
    }
  duro_free(rt->alarm_buckets);
  rt->alarm_buckets = NULL;
  rt->nalarm_buckets = rt->nalarms = 0;
  duro__alarm_heap_free(&rt->alarm_heap);
}

/* ---- staged changes ------------------------------------------------------------ */

static staged_alarm_t *staged_find(duro_object_t *o, const char *name) {
  for (size_t i = o->nstaged; i-- > 0;)
    if (strcmp(o->staged[i].name, name) == 0)
      return &o->staged[i];
  return NULL;
}

static int stage(duro_object_t *o, const char *name, int64_t due) {
  staged_alarm_t *s = staged_find(o, name);
  if (!s) {
    if (o->nstaged == sizeof(o->staged) / sizeof(o->staged[0]))
      return DURO_ENOSPC;
    s = &o->staged[o->nstaged++];
    s->name = duro_strdup(name);
  }
  s->due = due;
  if (due < 0)
    duro_store_batch_delete_alarm(duro__batch(o), name);
  else
    duro_store_batch_set_alarm(duro__batch(o), name, due);
  return 0;
}

int duro__alarm_get(duro_object_t *o, const char *name, int64_t *due_ms) {
  staged_alarm_t *s = staged_find(o, name);
  if (s) {
    if (s->due < 0)
      return DURO_ENOENT;
    *due_ms = s->due;
    return 0;
  }
  alarm_ent_t *a = duro__alarm_find(o->rt, o->id, name);
  if (!a || a->running)
    return DURO_ENOENT;
  *due_ms = a->due;
  return 0;
}

int duro__alarm_set(duro_object_t *o, const char *name, int64_t due_ms) {
  if (!o->in_event)
    return DURO_EINVAL;
  if (strlen(name) > 64) /* C string: an alarm name, per duro.h */
    return DURO_EINVAL;
  int64_t ignored;
  if (duro__alarm_get(o, name, &ignored) < 0) {
    /* a new alarm: count this object's alarms */
    size_t n = duro__alarm_count(o->rt, o->id);
    for (size_t i = 0; i < o->nstaged; i++)
      if (o->staged[i].due >= 0 &&
          !duro__alarm_find(o->rt, o->id, o->staged[i].name))
        n++;
    if (n >= DURO_MAX_ALARMS_PER_OBJECT)
      return DURO_ENOSPC;
  }
  if (due_ms < 0)
    due_ms = 0;
  return stage(o, name, due_ms);
}

int duro__alarm_delete(duro_object_t *o, const char *name) {
  if (!o->in_event)
    return DURO_EINVAL;
  int64_t due;
  int existed = duro__alarm_get(o, name, &due) == 0;
  alarm_ent_t *a = duro__alarm_find(o->rt, o->id, name);
  if (!existed && !a && !staged_find(o, name))
    return 0;
  int rc = stage(o, name, -1);
  return rc < 0 ? rc : existed;
}

void duro__alarms_delete_all(duro_object_t *o) {
  duro_runtime_t *rt = o->rt;
  if (rt->nalarm_buckets)
    for (alarm_ent_t *a = rt->alarm_buckets[bucket_of(rt->nalarm_buckets,
                                                      o->id)];
         a; a = a->hash_next)
      if (memcmp(a->id, o->id, 64) == 0)
        duro__alarm_delete(o, a->name);
  for (size_t i = 0; i < o->nstaged; i++)
    o->staged[i].due = -1;
}

void duro__alarms_apply(duro_object_t *o) {
  duro_runtime_t *rt = o->rt;
  for (size_t i = 0; i < o->nstaged; i++) {
    staged_alarm_t *s = &o->staged[i];
    alarm_ent_t *a = duro__alarm_find(rt, o->id, s->name);
    if (s->due < 0) {
      if (a) {
        index_remove(rt, a);
        if (a->running)
          a->running = 2; /* deleted while running: the runner frees it */
        else
          duro__alarm_free(a);
      }
    } else if (a && !a->running) {
      a->attempts = 0;
      duro__alarm_requeue(rt, a, s->due);
    } else {
      if (a) { /* running: detach the old entry, the runner frees it */
        index_remove(rt, a);
        a->running = 2;
      }
      index_insert(rt, alarm_new(o->id, o->ns, o->name, s->name, s->due));
    }
    duro_free(s->name);
  }
  o->nstaged = 0;
}

void duro__alarms_discard(duro_object_t *o) {
  for (size_t i = 0; i < o->nstaged; i++)
    duro_free(o->staged[i].name);
  o->nstaged = 0;
}
