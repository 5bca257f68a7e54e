// The parts of libmodelc written in C: the thread-local last error, the progress
// trampoline, and the functions that need no Go at all (they run without entering the Go
// runtime, so they are cheap and cannot fail).

#include <pthread.h>
#include <stdlib.h>

#include "include/modelc.h"
#include "support.h"

// The last error lives in C thread-local storage: an exported Go function runs on the
// host thread that called it from start to end, so setting it from Go sets it for that
// thread. The pthread key exists only so the message is freed when the thread exits;
// the __thread variable is the fast path for reading it.
static __thread char *last_error;
static pthread_key_t last_error_key;
static pthread_once_t last_error_once = PTHREAD_ONCE_INIT;

static void make_key(void) { pthread_key_create(&last_error_key, free); }

// The Go side copies the message into C memory itself (so C never reads Go memory) and
// hands it over; out of memory, it hands NULL, and no stale message is kept.
void modelc__set_last_error(char *msg) {
    pthread_once(&last_error_once, make_key);
    free(last_error);
    last_error = msg;
    pthread_setspecific(last_error_key, msg);
}

const char *modelc_last_error(void) { return last_error != NULL ? last_error : ""; }

int modelc__call_progress(modelc_progress_fn fn, void *user, const char *stage, double fraction) {
    return fn(user, stage, fraction);
}

void *modelc__alloc(size_t size) { return malloc(size > 0 ? size : 1); }

void modelc_free(void *ptr) { free(ptr); }

const char *modelc_status_string(modelc_status status) {
    switch (status) {
    case MODELC_OK: return "ok";
    case MODELC_E_INTERNAL: return "internal error";
    case MODELC_E_INVALID_ARGUMENT: return "invalid argument";
    case MODELC_E_IO: return "I/O error";
    case MODELC_E_CORRUPT: return "corrupt or unsupported file";
    case MODELC_E_UNSUPPORTED: return "unsupported op or dtype";
    case MODELC_E_VERIFY_FAILED: return "verification failed";
    case MODELC_E_CANCELLED: return "cancelled";
    }
    return "unknown status";
}
