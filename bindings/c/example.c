/* A tour of libmodelc from C: convert a model with a progress callback, inspect it, and
 * handle an error.
 *
 *   cc -std=c99 -Wall -I lib bindings/c/example.c -L lib -lmodelc -Wl,-rpath,$PWD/lib -o example
 *   ./example testdata/onnx/cnn.onnx /tmp/cnn-copy.onnx
 */
#include <stdio.h>

#include "modelc.h"

static int on_progress(void *user, const char *stage, double fraction) {
    (void)user;
    printf("  %s %3.0f%%\n", stage, fraction * 100);
    return 0; /* non-zero would cancel */
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s IN OUT\n", argv[0]);
        return 2;
    }
    if (modelc_abi_version() < MODELC_ABI_VERSION) {
        fprintf(stderr, "libmodelc %s is older than this program's header\n", modelc_version());
        return 1;
    }

    modelc_status st = modelc_convert(argv[1], argv[2], "{\"size_threshold\": 4096}", on_progress, NULL);
    if (st != MODELC_OK) {
        fprintf(stderr, "convert: %s: %s\n", modelc_status_string(st), modelc_last_error());
        return 1;
    }

    char *info = NULL;
    st = modelc_inspect(argv[2], &info);
    if (st != MODELC_OK) {
        fprintf(stderr, "inspect: %s: %s\n", modelc_status_string(st), modelc_last_error());
        return 1;
    }
    printf("%s\n", info);
    modelc_free(info);

    /* A failure: the status says what kind, the last error says what and where. */
    st = modelc_inspect("no-such-model.onnx", &info);
    printf("expected failure: %s: %s\n", modelc_status_string(st), modelc_last_error());
    return st == MODELC_E_IO ? 0 : 1;
}
