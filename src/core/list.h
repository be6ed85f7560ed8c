/*
 * list.h: intrusive circular doubly-linked lists.
 *
 * The node lives inside the owning struct; DURO_CONTAINER_OF gets back to
 * the owner. An empty list is a head that points at itself. Removing a node
 * leaves it self-linked, so removing twice is harmless.
 */
#ifndef DURO_CORE_LIST_H
#define DURO_CORE_LIST_H

#include <stddef.h>

typedef struct duro_list {
  struct duro_list *next, *prev;
} duro_list_t;

#define DURO_CONTAINER_OF(ptr, type, field)                                   \
  ((type *)((char *)(ptr)-offsetof(type, field)))

static inline void duro_list_init(duro_list_t *l) { l->next = l->prev = l; }
static inline int duro_list_empty(const duro_list_t *l) { return l->next == l; }

static inline void duro_list_insert_tail(duro_list_t *head, duro_list_t *n) {
  n->prev = head->prev;
  n->next = head;
  head->prev->next = n;
  head->prev = n;
}

/* Moves every entry of src, in order, to the end of dst; src is left
 * empty. */
static inline void duro_list_splice_tail(duro_list_t *dst, duro_list_t *src) {
  if (src->next == src)
    return;
  src->next->prev = dst->prev;
  dst->prev->next = src->next;
  src->prev->next = dst;
  dst->prev = src->prev;
  src->next = src->prev = src;
}

static inline void duro_list_remove(duro_list_t *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->next = n->prev = n;
}

#define DURO_LIST_FOREACH(it, head)                                           \
  for (duro_list_t *it = (head)->next; it != (head); it = it->next)

/* Safe against removal of the current node. */
#define DURO_LIST_FOREACH_SAFE(it, tmp, head)                                 \
  for (duro_list_t *it = (head)->next, *tmp = it->next; it != (head);        \
       it = tmp, tmp = it->next)

#endif
