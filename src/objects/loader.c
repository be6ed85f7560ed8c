/*
 * loader.c: object classes from shared libraries; see loader.h.
 *
 * Design notes.
 * - RTLD_NOW makes a library that calls a duro_* function this duro does
 *   not export fail here, at start-up, instead of at its first call.
 * - RTLD_LOCAL keeps one library's symbols from satisfying another's, so
 *   two libraries may both define helpers with the same names; each one's
 *   duro_module is found with dlsym on its own handle.
 * - The module table is checked before any class in it: a table of
 *   another ABI may not even have the layout we read classes through.
 */
#include "objects/loader.h"

#include <dlfcn.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"

/* duro_module_t as ABI 1 defines it. */
#define MODULE_SIZE_V1                                                        \
  (offsetof(duro_module_t, classes) + sizeof(((duro_module_t *)0)->classes))

typedef const duro_module_t *(*module_fn)(void);


/* Opens path (once per loader; dlopen counts references, we do not) and
 * checks its module. On success *mod is the library's table. */
static int open_module(duro_loader_t *l, const char *path,
                       const duro_module_t **mod, char *err, size_t errlen) {
  dlerror();
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *why = dlerror();
    size_t plen = strlen(path); /* C string: a library path from config */
    /* dlerror() names the file too; say it once. */
    if (why && strncmp(why, path, plen) == 0 && why[plen] == ':')
      why += plen + (why[plen + 1] == ' ' ? 2 : 1);
    return duro_err_fmt(DURO_ENOENT, err, errlen, "duro: %s: cannot load: %s",
                     path, why ? why : "unknown error");
  }
  /* dlopen hands back the same handle for a library opened before. */
  int seen = 0;
  for (size_t i = 0; i < l->nhandles; i++)
    if (l->handles[i] == h)
      seen = 1;
  if (seen) {
    dlclose(h); /* drop the extra reference */
  } else {
    l->handles = duro_realloc(l->handles,
                              (l->nhandles + 1) * sizeof(*l->handles));
    l->handles[l->nhandles++] = h;
  }
  dlerror();
  void *sym = dlsym(h, DURO_MODULE_SYMBOL);
  if (!sym || dlerror())
    return duro_err_fmt(DURO_EPROTO, err, errlen,
                     "duro: %s: no entry point " DURO_MODULE_SYMBOL
                     " (is it built with duro.h and DURO_MODULE()?)",
                     path);
  module_fn fn;
  memcpy(&fn, &sym, sizeof(fn)); /* object pointer to function pointer */
  const duro_module_t *m = fn();
  if (!m)
    return duro_err_fmt(DURO_EPROTO, err, errlen,
                     "duro: %s: " DURO_MODULE_SYMBOL "() returned no module",
                     path);
  if (m->abi_version != DURO_ABI_VERSION)
    return duro_err_fmt(DURO_EINVAL, err, errlen,
                     "duro: %s: built for duro ABI %u, this duro has ABI %d "
                     "(rebuild it against this duro's duro.h)",
                     path, (unsigned)m->abi_version, DURO_ABI_VERSION);
  if (m->struct_size < MODULE_SIZE_V1)
    return duro_err_fmt(DURO_EINVAL, err, errlen,
                     "duro: %s: module table of %u bytes is not a "
                     "duro_module_t of ABI %d (define it with DURO_MODULE)",
                     path, (unsigned)m->struct_size, DURO_ABI_VERSION);
  if (!m->classes || !m->classes[0])
    return duro_err_fmt(DURO_EPROTO, err, errlen,
                     "duro: %s: the module lists no classes", path);
  char why[256];
  for (size_t i = 0; m->classes[i]; i++) {
    if (duro_runtime_check_class(m->classes[i], why, sizeof(why)) < 0)
      return duro_err_fmt(DURO_EINVAL, err, errlen, "duro: %s: %s", path, why);
    for (size_t j = 0; j < i; j++)
      if (strcmp(m->classes[j]->name, m->classes[i]->name) == 0)
        return duro_err_fmt(DURO_EEXIST, err, errlen,
                         "duro: %s: lists class '%s' twice", path,
                         m->classes[i]->name);
  }
  *mod = m;
  return 0;
}

int duro_loader_load(duro_loader_t *l, duro_runtime_t *rt,
                     const duro_class_lib_t *libs, size_t n, char *err,
                     size_t errlen) {
  for (size_t i = 0; i < n; i++) {
    const char *path = libs[i].library;
    const duro_module_t *m = NULL;
    int rc = open_module(l, path, &m, err, errlen);
    if (rc < 0)
      return rc;
    const duro_class_t *cls = NULL;
    for (size_t k = 0; m->classes[k] && !cls; k++)
      if (strcmp(m->classes[k]->name, libs[i].class_name) == 0)
        cls = m->classes[k];
    if (!cls) {
      duro_buf_t have = DURO_BUF_INIT;
      for (size_t k = 0; m->classes[k]; k++)
        duro_buf_printf(&have, "%s'%s'", k ? ", " : "", m->classes[k]->name);
      duro_buf_append(&have, "", 1);
      rc = duro_err_fmt(DURO_ENOENT, err, errlen,
                        "duro: %s: has no class '%s' (it provides %s)", path,
                        libs[i].class_name, (const char *)have.data);
      duro_buf_free(&have);
      return rc;
    }
    char why[256];
    rc = duro_runtime_add_class(rt, cls, path, why, sizeof(why));
    if (rc < 0)
      return duro_err_fmt(rc, err, errlen, "duro: %s: %s", path, why);
  }
  return 0;
}

void duro_loader_close(duro_loader_t *l) {
  for (size_t i = l->nhandles; i-- > 0;)
    dlclose(l->handles[i]);
  duro_free(l->handles);
  l->handles = NULL;
  l->nhandles = 0;
}
