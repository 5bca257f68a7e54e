/* Internal helpers of libmodelc, shared by the Go exports (capi/*.go) and support.c.
 * Not installed: hosts use include/modelc.h. This header repeats no declaration of an
 * exported function, because cgo declares the exports itself (with non-const parameters,
 * which would conflict). */
#ifndef MODELC_SUPPORT_H
#define MODELC_SUPPORT_H

#include <stddef.h>

/* Hidden: these are for the Go side of the library, not part of its ABI. */
#define MODELC_INTERNAL __attribute__((visibility("hidden")))

#ifndef MODELC_H /* the same typedef as in include/modelc.h */
typedef int (*modelc_progress_fn)(void *user, const char *stage, double fraction);
#endif

/* From include/modelc.h (public, implemented in support.c); repeated for the Go side. */
const char *modelc_last_error(void);

/* Go cannot call a C function pointer: it calls this trampoline instead. */
MODELC_INTERNAL int modelc__call_progress(modelc_progress_fn fn, void *user, const char *stage, double fraction);

/* Makes msg (malloc'd, NUL-terminated; the library takes it over) the calling thread's
 * last error. NULL (out of memory) clears it. */
MODELC_INTERNAL void modelc__set_last_error(char *msg);

/* malloc that never returns NULL for size 0, so a NULL result always means out of memory. */
MODELC_INTERNAL void *modelc__alloc(size_t size);

#endif
