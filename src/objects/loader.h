/*
 * loader.h: object classes from shared libraries (the "classes" array of
 * the config file).
 *
 * Each distinct library is opened once with dlopen(RTLD_NOW | RTLD_LOCAL)
 * and its entry point duro_module() (see include/duro.h) is asked for its
 * module table. The module and every class it lists must be of this
 * duro's ABI; the configured class names are then registered with the
 * runtime like built-in classes, before the bindings are resolved. A
 * library resolves the duro_* functions from the executable (linked with
 * -rdynamic), so it must not link libduro itself.
 *
 * Every failure is a start-up error: the loader returns it with a message
 * that names the file and the reason, and the caller exits. Libraries stay
 * loaded until duro_loader_close, which must come after the runtime (and
 * the instances whose teardown code lives in them) is freed.
 */
#ifndef DURO_OBJECTS_LOADER_H
#define DURO_OBJECTS_LOADER_H

#include <stddef.h>

#include "core/config.h"
#include "objects/runtime.h"

typedef struct duro_loader {
  void **handles; /* dlopen handles, in opening order */
  size_t nhandles;
} duro_loader_t;

/*
 * Loads the n classes of libs into rt: opens each library once, checks its
 * module table and classes, and registers every configured class_name with
 * the library's path as its origin. libs (and its strings, named in the
 * runtime's messages) are borrowed and must outlive rt.
 *
 * Returns 0, or a negative code with a one-line message in err that starts
 * "duro: <library>: " and says what is wrong:
 *   DURO_ENOENT  the library cannot be loaded (dlerror's text), or it does
 *                not provide a configured class
 *   DURO_EPROTO  no entry point, or a module table that is NULL or empty
 *   DURO_EINVAL  another ABI version, or a malformed class table
 *   DURO_EEXIST  a class name registered already (saying by whom), or
 *                listed twice by the library
 * On error the libraries opened so far stay in l; duro_loader_close them.
 * Never calls into classes other than their modules' duro_module().
 */
int duro_loader_load(duro_loader_t *l, duro_runtime_t *rt,
                     const duro_class_lib_t *libs, size_t n, char *err,
                     size_t errlen);

/* Closes every library and empties l; safe on a zeroed loader. */
void duro_loader_close(duro_loader_t *l);

#endif
