/*
 * pg_fixture.h: the storage tests' PostgreSQL side (test_store.c,
 * test_eventlog.c). The server is DURO_TEST_POSTGRES, a libpq conninfo
 * (tests/run-unit.sh starts one with tests/pg.sh and exports it); each
 * test gets a database of its own, duro_t_<pid>_<counter>, created before
 * it and dropped WITH (FORCE) after it. Without DURO_TEST_POSTGRES the
 * PostgreSQL tests fail, they never skip.
 *
 * Everything here is for the loop (test) thread only, except pgt_exec and
 * pgt_scalar on a connection that the caller does not use at the same
 * time from another thread.
 */
#ifndef DURO_TESTS_PG_FIXTURE_H
#define DURO_TESTS_PG_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

/* DURO_TEST_POSTGRES, or NULL after saying why on stderr. */
static inline const char *pgt_base(void) {
  const char *base = getenv("DURO_TEST_POSTGRES");
  if (!base || !*base) {
    fprintf(stderr,
            "PostgreSQL tests: DURO_TEST_POSTGRES is not set. Start a "
            "server with `tests/pg.sh start DIR` and export the conninfo it "
            "prints (tests/run-unit.sh does both); failing, not skipping.\n");
    return NULL;
  }
  return base;
}

/* Appends s to the malloc'ed string *out (of length *len). */
static inline void pgt_append(char **out, size_t *len, const char *s) {
  size_t n = strlen(s);
  char *p = realloc(*out, *len + n + 1);
  if (!p)
    abort();
  memcpy(p + *len, s, n + 1);
  *out = p;
  *len += n;
}

/* base (a keyword string or a URL) as a keyword string, with the
 * keywords of set (keyword, value, ..., NULL) replaced or added. A
 * malloc'ed string, or NULL after saying why. */
static inline char *pgt_conninfo_with(const char *base,
                                      const char *const *set) {
  char *perr = NULL;
  PQconninfoOption *opts = PQconninfoParse(base, &perr);
  if (!opts) {
    fprintf(stderr, "PostgreSQL tests: bad conninfo '%s': %s", base,
            perr ? perr : "out of memory\n");
    PQfreemem(perr);
    return NULL;
  }
  char *out = NULL;
  size_t len = 0;
  pgt_append(&out, &len, "");
  for (PQconninfoOption *o = opts; o->keyword; o++) {
    int replaced = 0;
    for (const char *const *s = set; s && *s; s += 2)
      replaced |= strcmp(*s, o->keyword) == 0;
    if (!o->val || replaced)
      continue;
    pgt_append(&out, &len, o->keyword);
    pgt_append(&out, &len, "='");
    for (const char *c = o->val; *c; c++) {
      char ch[3] = {'\\', *c, 0};
      pgt_append(&out, &len, *c == '\'' || *c == '\\' ? ch : ch + 1);
    }
    pgt_append(&out, &len, "' ");
  }
  for (const char *const *s = set; s && *s; s += 2) {
    pgt_append(&out, &len, s[0]);
    pgt_append(&out, &len, "='");
    pgt_append(&out, &len, s[1]); /* the tests' own values need no escape */
    pgt_append(&out, &len, "' ");
  }
  PQconninfoFree(opts);
  return out;
}

/* One option of a conninfo (a malloc'ed copy), or NULL if it is unset. */
static inline char *pgt_conninfo_get(const char *conninfo, const char *kw) {
  PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
  char *v = NULL;
  for (PQconninfoOption *o = opts; o && o->keyword; o++)
    if (strcmp(o->keyword, kw) == 0 && o->val)
      v = strdup(o->val);
  PQconninfoFree(opts);
  return v;
}

/* A connection, or NULL after saying why. */
static inline PGconn *pgt_connect(const char *conninfo) {
  PGconn *c = PQconnectdb(conninfo);
  if (PQstatus(c) != CONNECTION_OK) {
    fprintf(stderr, "PostgreSQL tests: cannot connect to %s: %s", conninfo,
            PQerrorMessage(c));
    PQfinish(c);
    return NULL;
  }
  return c;
}

/* Runs sql; 0, or -1 after saying why. */
static inline int pgt_exec(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
  if (!ok)
    fprintf(stderr, "PostgreSQL tests: %s: %s", sql, PQerrorMessage(c));
  PQclear(r);
  return ok ? 0 : -1;
}

/* The one value sql returns (with up to one text parameter p1) as a long
 * long; -1 after saying why (or if the value is NULL). */
static inline long long pgt_scalar(PGconn *c, const char *sql,
                                   const char *p1) {
  const char *params[1] = {p1};
  PGresult *r = PQexecParams(c, sql, p1 ? 1 : 0, NULL, params, NULL, NULL, 0);
  long long v = -1;
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
    fprintf(stderr, "PostgreSQL tests: %s: %s", sql, PQerrorMessage(c));
  else if (!PQgetisnull(r, 0, 0))
    v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return v;
}

/* Creates a fresh database for one test: its name into name (64 bytes)
 * and the conninfo to reach it (malloc'ed) into *conninfo. 0, or -1 after
 * saying why. */
static inline int pgt_create_db(char name[64], char **conninfo) {
  static unsigned counter;
  const char *base = pgt_base();
  if (!base)
    return -1;
  snprintf(name, 64, "duro_t_%ld_%u", (long)getpid(), ++counter);
  PGconn *admin = pgt_connect(base);
  if (!admin)
    return -1;
  char sql[128];
  snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
  int rc = pgt_exec(admin, sql);
  PQfinish(admin);
  if (rc != 0)
    return -1;
  const char *set[] = {"dbname", name, NULL};
  *conninfo = pgt_conninfo_with(base, set);
  return *conninfo ? 0 : -1;
}

/* Drops a test's database (and role, if not NULL) even if something is
 * still connected to it. 0, or -1 after saying why. */
static inline int pgt_drop_db(const char *name, const char *role) {
  const char *base = pgt_base();
  if (!base)
    return -1;
  PGconn *admin = pgt_connect(base);
  if (!admin)
    return -1;
  char sql[160];
  snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
  int rc = pgt_exec(admin, sql);
  if (role && *role) {
    snprintf(sql, sizeof(sql), "DROP ROLE IF EXISTS %s", role);
    rc |= pgt_exec(admin, sql);
  }
  PQfinish(admin);
  return rc;
}

#endif
