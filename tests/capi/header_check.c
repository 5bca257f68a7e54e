/* Compiled, not run, by `make test-capi`: as C99 and as C++ with -Wall -Wextra -Werror
 * (-pedantic and -Wstrict-prototypes for C). It pins the ABI: every function must keep
 * exactly the type written here and every status code its number, so an incompatible
 * edit of modelc.h fails the build. The ABI only grows: add lines, never change them. */
#include "modelc.h"

#define PIN(name, cond) typedef char pin_status_##name[(cond) ? 1 : -1]

PIN(abi, MODELC_ABI_VERSION >= 1);
PIN(abi2, MODELC_ABI_VERSION >= 2); /* modelc_compress_bytes */
PIN(abi3, MODELC_ABI_VERSION >= 3); /* modelc_distill */
PIN(ok, MODELC_OK == 0);
PIN(internal, MODELC_E_INTERNAL == 1);
PIN(invalid, MODELC_E_INVALID_ARGUMENT == 2);
PIN(io, MODELC_E_IO == 3);
PIN(corrupt, MODELC_E_CORRUPT == 4);
PIN(unsupported, MODELC_E_UNSUPPORTED == 5);
PIN(verify, MODELC_E_VERIFY_FAILED == 6);
PIN(cancelled, MODELC_E_CANCELLED == 7);

typedef int (*progress_t)(void *, const char *, double);

const char *(*const pin_version)(void) = modelc_version;
int (*const pin_abi_version)(void) = modelc_abi_version;
const char *(*const pin_last_error)(void) = modelc_last_error;
const char *(*const pin_status_string)(modelc_status) = modelc_status_string;
void (*const pin_free)(void *) = modelc_free;
modelc_status (*const pin_convert)(const char *, const char *, const char *, progress_t, void *) = modelc_convert;
modelc_status (*const pin_convert_bytes)(const void *, size_t, const char *, const char *, const char *, progress_t,
                                         void *, void **, size_t *) = modelc_convert_bytes;
modelc_status (*const pin_inspect)(const char *, char **) = modelc_inspect;
modelc_status (*const pin_backends)(char **) = modelc_backends;
modelc_status (*const pin_compress)(const char *, const char *, const char *, progress_t, void *, char **) =
    modelc_compress;
modelc_status (*const pin_verify)(const char *, const char *, const char *, progress_t, void *, char **) = modelc_verify;
modelc_status (*const pin_compress_bytes)(const void *, size_t, const char *, const char *, progress_t, void *, void **,
                                          size_t *, char **) = modelc_compress_bytes;
modelc_status (*const pin_distill)(const char *, const char *, const char *, const char *, progress_t, void *, char **) =
    modelc_distill;
