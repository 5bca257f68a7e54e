/* The C side of bench/capi_overhead.py: the same calls as capi_overhead_test.go, made
 * through libmodelc. Prints one line per operation: name, best ns/op over REPEATS rounds.
 *
 *   bench_capi MODEL ITERATIONS REPEATS
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "modelc.h"

static const char *model;
static void *data;
static size_t size;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, modelc_last_error());
    exit(1);
}

static void op_abi_version(void) { (void)modelc_abi_version(); }
static void op_backends(void) {
    char *json = NULL;
    if (modelc_backends(&json) != MODELC_OK) fail("backends");
    modelc_free(json);
}
static void op_inspect(void) {
    char *json = NULL;
    if (modelc_inspect(model, &json) != MODELC_OK) fail("inspect");
    modelc_free(json);
}
static void op_convert_bytes(void) {
    void *out = NULL;
    size_t out_size = 0;
    if (modelc_convert_bytes(data, size, NULL, "onnx", NULL, NULL, NULL, &out, &out_size) != MODELC_OK)
        fail("convert_bytes");
    modelc_free(out);
}

static void bench(const char *name, void (*op)(void), int iterations, int repeats) {
    double best = 1e300;
    for (int i = 0; i < iterations / 10 + 1; i++) op(); /* warm up */
    for (int r = 0; r < repeats; r++) {
        double t0 = now_ns();
        for (int i = 0; i < iterations; i++) op();
        double per = (now_ns() - t0) / iterations;
        if (per < best) best = per;
    }
    printf("%s %.1f\n", name, best);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL ITERATIONS REPEATS\n", argv[0]);
        return 2;
    }
    model = argv[1];
    int iterations = atoi(argv[2]), repeats = atoi(argv[3]);
    FILE *f = fopen(model, "rb");
    if (f == NULL) return 1;
    fseek(f, 0, SEEK_END);
    size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc(size);
    if (fread(data, 1, size, f) != size) return 1;
    fclose(f);
    bench("abi_version", op_abi_version, iterations * 100, repeats);
    bench("backends", op_backends, iterations, repeats);
    bench("inspect", op_inspect, iterations, repeats);
    bench("convert_bytes", op_convert_bytes, iterations, repeats);
    free(data);
    return 0;
}
