/*
 * Tests of libmodelc through its public header, as a C host sees it.
 *
 *   test_capi FIXTURE_DIR [ITERATIONS]
 *
 * FIXTURE_DIR holds ONNX models (testdata/onnx). The program converts, converts in memory
 * (to ONNX and the weight formats), inspects and verifies each of them and checks the
 * results against each other; compresses one, from a file and in memory, and verifies
 * the result; calls every
 * function with bad arguments and checks the status and the message; cancels operations
 * and checks nothing is left behind; and runs 8 threads × ITERATIONS rounds of calls at
 * once (default 40). It prints one line per failed check and a summary, and exits 1 if
 * any check failed. Built with -Wall -Wextra -Werror; run under valgrind by `make test`.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "modelc.h"

static pthread_mutex_t report_mu = PTHREAD_MUTEX_INITIALIZER;
static int checks, failures;

static void record(int ok, const char *file, int line, const char *fmt, ...) {
    pthread_mutex_lock(&report_mu);
    checks++;
    if (!ok) {
        failures++;
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "%s:%d: FAIL: ", file, line);
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
    pthread_mutex_unlock(&report_mu);
}

#define CHECK(cond, ...) record((cond) != 0, __FILE__, __LINE__, __VA_ARGS__)

/* CHECK_STATUS checks a call's status and that the thread's last error mentions `needle`. */
#define CHECK_STATUS(call, want, needle)                                                       \
    do {                                                                                       \
        modelc_status got_ = (call);                                                           \
        const char *msg_ = modelc_last_error();                                                \
        CHECK(got_ == (want), "%s: status %d (%s), want %d; last error: %s", #call, got_,     \
              modelc_status_string(got_), (want), msg_);                                       \
        if ((want) != MODELC_OK)                                                               \
            CHECK(strstr(msg_, (needle)) != NULL, "%s: message %s does not mention \"%s\"", \
                  #call, msg_, (needle));                                                      \
    } while (0)

static char tmpdir[256];

static void path_in_tmp(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", tmpdir, name); }

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static unsigned char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

/* Counts the entries of tmpdir: a failed or cancelled write must leave no temp file. */
static int count_entries(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    if (d != NULL) closedir(d);
    return n;
}

/* The part of an info JSON after "path" (which differs between a model and its copy). */
static const char *after_path(const char *json) {
    const char *p = json != NULL ? strstr(json, "\"format\"") : NULL;
    return p != NULL ? p : "";
}

/* ---- progress callbacks ------------------------------------------------------------------ */

struct progress_log {
    char stages[16][16];
    double fractions[16];
    int n;
    const char *cancel_at; /* cancel when this stage is reported; NULL never */
};

/* The last report a progress_log kept. */
#define LAST_STAGE(log) ((log).stages[(log).n < 16 ? (log).n - 1 : 15])

/* Keeps the first 15 reports and the last one (in stages[15] once there are more). */
static int log_progress(void *user, const char *stage, double fraction) {
    struct progress_log *log = user;
    int i = log->n < 16 ? log->n : 15;
    snprintf(log->stages[i], sizeof log->stages[0], "%s", stage);
    log->fractions[i] = fraction;
    log->n++;
    return log->cancel_at != NULL && strcmp(stage, log->cancel_at) == 0;
}

/* read at 0, then "write" once per piece written (at least once), then done at 1. */
static void check_stages(const struct progress_log *log, const char *what) {
    int kept = log->n < 16 ? log->n : 16;
    CHECK(log->n >= 3, "%s: %d progress reports, want at least 3 (read, write..., done)", what, log->n);
    if (log->n < 3) return;
    CHECK(strcmp(log->stages[0], "read") == 0 && log->fractions[0] == 0, "%s: first report %s %g", what,
          log->stages[0], log->fractions[0]);
    CHECK(strcmp(log->stages[kept - 1], "done") == 0 && log->fractions[kept - 1] == 1, "%s: last report %s %g", what,
          log->stages[kept - 1], log->fractions[kept - 1]);
    for (int i = 1; i < kept - 1; i++) {
        CHECK(strcmp(log->stages[i], "write") == 0 && log->fractions[i] > 0 && log->fractions[i] <= 1 &&
                  log->fractions[i] >= log->fractions[i - 1],
              "%s: report %d: %s %g", what, i, log->stages[i], log->fractions[i]);
    }
}

/* ---- one fixture ------------------------------------------------------------------------- */

static void test_fixture(const char *src) {
    const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
    char dst[512], ext_dst[512], ext_data[600];
    path_in_tmp(dst, sizeof dst, base);
    snprintf(ext_dst, sizeof ext_dst, "%s/ext_%s", tmpdir, base);
    snprintf(ext_data, sizeof ext_data, "%s.data", ext_dst);

    char *info_src = NULL, *info_dst = NULL, *info_ext = NULL;
    CHECK_STATUS(modelc_inspect(src, &info_src), MODELC_OK, "");
    CHECK(info_src != NULL && strstr(info_src, "\"format\":\"onnx\"") != NULL, "%s: info %s", src,
          info_src ? info_src : "(null)");
    CHECK(info_src != NULL && strstr(info_src, "\"node_count\":") != NULL, "%s: info has no node_count", src);

    struct progress_log log = {0};
    CHECK_STATUS(modelc_convert(src, dst, NULL, log_progress, &log), MODELC_OK, "");
    check_stages(&log, src);
    CHECK_STATUS(modelc_inspect(dst, &info_dst), MODELC_OK, "");
    CHECK(info_dst != NULL && strcmp(after_path(info_src), after_path(info_dst)) == 0,
          "%s: the converted model summarises differently:\n  %s\n  %s", src, after_path(info_src),
          after_path(info_dst));
    /* The copy computes what the original does: same outputs on the same inputs. */
    char *report = NULL;
    CHECK_STATUS(modelc_verify(src, dst, "{\"atol\": 0, \"rtol\": 0, \"samples\": 2}", NULL, NULL, &report), MODELC_OK, "");
    CHECK(report != NULL && strstr(report, "\"pass\":true") != NULL, "%s: verify report %s", src,
          report ? report : "(null)");
    modelc_free(report);

    /* External data: the same model, with its initializers in a file beside it. */
    CHECK_STATUS(modelc_convert(src, ext_dst, "{\"external_data\": true, \"size_threshold\": 1}", NULL, NULL),
                 MODELC_OK, "");
    CHECK_STATUS(modelc_inspect(ext_dst, &info_ext), MODELC_OK, "");
    CHECK(info_ext != NULL && strcmp(after_path(info_src), after_path(info_ext)) == 0,
          "%s: the external-data copy summarises differently", src);
    if (strstr(info_src, "\"bytes_per_dtype\":{}") == NULL)
        CHECK(exists(ext_data), "%s: no external data file %s", src, ext_data);

    /* In memory: the same bytes as the file conversion. */
    size_t src_size = 0, dst_size = 0, out_size = 0;
    unsigned char *src_bytes = read_file(src, &src_size), *dst_bytes = read_file(dst, &dst_size);
    void *out = NULL;
    struct progress_log mlog = {0};
    CHECK(src_bytes != NULL && dst_bytes != NULL, "cannot read %s or %s back", src, dst);
    CHECK_STATUS(modelc_convert_bytes(src_bytes, src_size, NULL, "onnx", NULL, log_progress, &mlog, &out, &out_size),
                 MODELC_OK, "");
    check_stages(&mlog, "convert_bytes");
    CHECK(out != NULL && out_size == dst_size && dst_bytes != NULL && memcmp(out, dst_bytes, dst_size) == 0,
          "%s: in-memory conversion gave %zu bytes, the file conversion %zu (or they differ)", src, out_size, dst_size);
    modelc_free(out);
    out = NULL;
    /* Formats named explicitly, the output one through the options. */
    CHECK_STATUS(modelc_convert_bytes(src_bytes, src_size, "onnx", "", "{\"to\":\"onnx\"}", NULL, NULL, &out, &out_size),
                 MODELC_OK, "");
    CHECK(out != NULL && out_size == dst_size, "%s: convert_bytes with options.to gave %zu bytes", src, out_size);
    modelc_free(out);
    /* The weight formats in memory: the same bytes as the file conversion, or the same failure. */
    static const char *const formats[][2] = {{"safetensors", "w.safetensors"}, {"gguf", "w.gguf"}, {"torch", "w.pt"}};
    for (int i = 0; i < 3; i++) {
        char wfile[512];
        path_in_tmp(wfile, sizeof wfile, formats[i][1]);
        modelc_status fs = modelc_convert(src, wfile, NULL, NULL, NULL);
        out = NULL;
        out_size = 0;
        modelc_status ms = modelc_convert_bytes(src_bytes, src_size, NULL, formats[i][0], NULL, NULL, NULL, &out, &out_size);
        CHECK(fs == ms, "%s to %s: file status %d, in-memory status %d (%s)", src, formats[i][0], fs, ms,
              modelc_last_error());
        if (fs == MODELC_OK && ms == MODELC_OK) {
            size_t wsize = 0;
            unsigned char *wbytes = read_file(wfile, &wsize);
            CHECK(wbytes != NULL && out_size == wsize && memcmp(out, wbytes, wsize) == 0,
                  "%s to %s: in memory %zu bytes, the file %zu (or they differ)", src, formats[i][0], out_size, wsize);
            free(wbytes);
        }
        CHECK(ms == MODELC_OK || out == NULL, "a failed convert_bytes left *out set");
        modelc_free(out);
        out = NULL;
        unlink(wfile);
    }

    free(src_bytes);
    free(dst_bytes);
    modelc_free(info_src);
    modelc_free(info_dst);
    modelc_free(info_ext);
    unlink(dst);
    unlink(ext_dst);
    unlink(ext_data);
}

/* ---- compress and verify ------------------------------------------------------------------ */

static void test_compress_verify(const char *src) {
    char dst[512];
    path_in_tmp(dst, sizeof dst, "int8.onnx");
    char *report = NULL, *info = NULL;
    struct progress_log log = {0};
    CHECK_STATUS(modelc_compress(src, dst, "{\"quantize\": \"int8\", \"per_channel\": true}", log_progress, &log,
                                 &report),
                 MODELC_OK, "");
    CHECK(report != NULL && strstr(report, "\"bytes_after\":") != NULL && strstr(report, "int8") != NULL,
          "compress report: %s", report ? report : "(null)");
    CHECK(log.n >= 3 && strcmp(log.stages[0], "read") == 0 && strcmp(LAST_STAGE(log), "done") == 0,
          "compress progress: %d reports", log.n);
    modelc_free(report);
    CHECK_STATUS(modelc_inspect(dst, &info), MODELC_OK, "");
    CHECK(info != NULL && strstr(info, "int8") != NULL, "the compressed model holds no int8: %s", info ? info : "(null)");
    modelc_free(info);
    /* In memory: the same bytes as the file, and a report of the same shape. */
    size_t src_size = 0, dst_size = 0, out_size = 0;
    unsigned char *src_bytes = read_file(src, &src_size), *dst_bytes = read_file(dst, &dst_size);
    void *out = NULL;
    struct progress_log mlog = {0};
    report = NULL;
    CHECK_STATUS(modelc_compress_bytes(src_bytes, src_size, NULL, "{\"quantize\": \"int8\", \"per_channel\": true}",
                                       log_progress, &mlog, &out, &out_size, &report),
                 MODELC_OK, "");
    CHECK(out != NULL && dst_bytes != NULL && out_size == dst_size && memcmp(out, dst_bytes, dst_size) == 0,
          "compress_bytes gave %zu bytes, compress wrote %zu (or they differ)", out_size, dst_size);
    CHECK(report != NULL && strstr(report, "\"input\":\"\\u003cmemory\\u003e\"") != NULL && strstr(report, "\"bytes_after\":") != NULL,
          "compress_bytes report: %s", report ? report : "(null)");
    CHECK(mlog.n >= 3 && strcmp(mlog.stages[0], "read") == 0 && strcmp(LAST_STAGE(mlog), "done") == 0,
          "compress_bytes progress: %d reports", mlog.n);
    modelc_free(out);
    modelc_free(report);
    /* The format named; no report wanted. */
    out = NULL;
    CHECK_STATUS(modelc_compress_bytes(src_bytes, src_size, "onnx", "{\"quantize\": \"int8\", \"per_channel\": true}",
                                       NULL, NULL, &out, &out_size, NULL),
                 MODELC_OK, "");
    CHECK(out != NULL && out_size == dst_size, "compress_bytes with from_format gave %zu bytes", out_size);
    modelc_free(out);
    /* A failed verification hands out the output and the report. */
    out = NULL;
    report = NULL;
    CHECK_STATUS(modelc_compress_bytes(src_bytes, src_size, NULL, "{\"quantize\": \"int4\", \"verify\": true, \"min_cosine\": 1}",
                                       NULL, NULL, &out, &out_size, &report),
                 MODELC_E_VERIFY_FAILED, "<output>");
    CHECK(out != NULL && out_size > 0 && report != NULL && strstr(report, "\"pass\":false") != NULL,
          "compress_bytes with a failed verification: %zu bytes, report %s", out_size, report ? report : "(null)");
    modelc_free(out);
    modelc_free(report);
    free(src_bytes);
    free(dst_bytes);
    report = NULL;

    /* No report wanted: report_json may be NULL. */
    CHECK_STATUS(modelc_compress(src, dst, "{\"quantize\": \"int8\"}", NULL, NULL, NULL), MODELC_OK, "");

    /* int8 weights move the outputs: beyond the default tolerance, within a loose one. */
    report = (char *)"sentinel";
    CHECK_STATUS(modelc_verify(src, dst, NULL, NULL, NULL, &report), MODELC_E_VERIFY_FAILED, "beyond tolerance");
    CHECK(report != NULL && report != (char *)"sentinel" && strstr(report, "\"pass\":false") != NULL,
          "a failed verification must still return its report: %s", report ? report : "(null)");
    modelc_free(report);
    CHECK_STATUS(modelc_verify(src, dst, "{\"atol\": 1, \"rtol\": 1}", NULL, NULL, NULL), MODELC_OK, "");
    /* compress's own verification, with a bar it cannot meet: the output is kept, the report says why. */
    report = NULL;
    CHECK_STATUS(modelc_compress(src, dst, "{\"quantize\": \"int4\", \"verify\": true, \"min_cosine\": 1}", NULL, NULL,
                                 &report),
                 MODELC_E_VERIFY_FAILED, "");
    CHECK(report != NULL && strstr(report, "\"verify\":") != NULL, "compress --verify report: %s",
          report ? report : "(null)");
    modelc_free(report);
    unlink(dst);
}

/* ---- bad arguments ------------------------------------------------------------------------- */

static void test_bad_arguments(const char *src) {
    char dst[512], missing[512], garbage[512], nodir[512];
    path_in_tmp(dst, sizeof dst, "bad.onnx");
    path_in_tmp(missing, sizeof missing, "missing.onnx");
    path_in_tmp(garbage, sizeof garbage, "garbage.onnx");
    snprintf(nodir, sizeof nodir, "%s/no/such/folder/out.onnx", tmpdir);
    write_file(garbage, "this is not a model\n");
    int before = count_entries();

    CHECK_STATUS(modelc_convert(NULL, dst, NULL, NULL, NULL), MODELC_E_INVALID_ARGUMENT, "src is NULL");
    CHECK_STATUS(modelc_convert(src, NULL, NULL, NULL, NULL), MODELC_E_INVALID_ARGUMENT, "dst is NULL");
    CHECK_STATUS(modelc_convert("", dst, NULL, NULL, NULL), MODELC_E_INVALID_ARGUMENT, "src is empty");
    CHECK_STATUS(modelc_convert(missing, dst, NULL, NULL, NULL), MODELC_E_IO, missing);
    CHECK_STATUS(modelc_convert(garbage, dst, NULL, NULL, NULL), MODELC_E_CORRUPT, garbage);
    CHECK_STATUS(modelc_convert(src, dst, "{not json", NULL, NULL), MODELC_E_INVALID_ARGUMENT, "not valid JSON");
    CHECK_STATUS(modelc_convert(src, dst, "[1, 2]", NULL, NULL), MODELC_E_INVALID_ARGUMENT, "options");
    CHECK_STATUS(modelc_convert(src, dst, "{\"bogus_key\": 1}", NULL, NULL), MODELC_E_INVALID_ARGUMENT, "bogus_key");
    CHECK_STATUS(modelc_convert(src, dst, "{\"external_data\": \"yes\"}", NULL, NULL), MODELC_E_INVALID_ARGUMENT,
                 "external_data");
    CHECK_STATUS(modelc_convert(src, dst, "{\"to\": \"nosuchformat\"}", NULL, NULL), MODELC_E_INVALID_ARGUMENT,
                 "nosuchformat");
    CHECK_STATUS(modelc_convert(src, src, NULL, NULL, NULL), MODELC_E_INVALID_ARGUMENT, "never overwrites its input");
    CHECK_STATUS(modelc_convert(src, "out.unknownext", NULL, NULL, NULL), MODELC_E_INVALID_ARGUMENT, ".unknownext");
    CHECK_STATUS(modelc_convert(src, nodir, NULL, NULL, NULL), MODELC_E_IO, nodir);
    CHECK(!exists(dst), "a failed convert left %s", dst);

    char *report = (char *)"sentinel";
    CHECK_STATUS(modelc_compress(NULL, dst, NULL, NULL, NULL, &report), MODELC_E_INVALID_ARGUMENT, "src is NULL");
    CHECK(report == NULL, "a failed compress must set *report_json to NULL");
    CHECK_STATUS(modelc_compress(src, NULL, NULL, NULL, NULL, NULL), MODELC_E_INVALID_ARGUMENT, "dst is NULL");
    CHECK_STATUS(modelc_compress(missing, dst, "{\"quantize\": \"int8\"}", NULL, NULL, NULL), MODELC_E_IO, missing);
    CHECK_STATUS(modelc_compress(garbage, dst, "{\"quantize\": \"int8\"}", NULL, NULL, NULL), MODELC_E_CORRUPT, garbage);
    CHECK_STATUS(modelc_compress(src, dst, "{\"bogus_key\": 1}", NULL, NULL, NULL), MODELC_E_INVALID_ARGUMENT, "bogus_key");
    CHECK_STATUS(modelc_compress(src, dst, "{\"quantize\": \"int3\"}", NULL, NULL, NULL), MODELC_E_INVALID_ARGUMENT, "int3");
    CHECK_STATUS(modelc_compress(src, "out.safetensors", "{\"quantize\": \"int8\"}", NULL, NULL, NULL),
                 MODELC_E_INVALID_ARGUMENT, "ONNX");
    CHECK_STATUS(modelc_verify(NULL, src, NULL, NULL, NULL, &report), MODELC_E_INVALID_ARGUMENT, "ref is NULL");
    CHECK_STATUS(modelc_verify(src, NULL, NULL, NULL, NULL, &report), MODELC_E_INVALID_ARGUMENT, "cand is NULL");
    CHECK_STATUS(modelc_verify(src, missing, NULL, NULL, NULL, &report), MODELC_E_IO, missing);
    CHECK(report == NULL, "a failed verify (not a verification failure) must set *report_json to NULL");
    CHECK_STATUS(modelc_verify(src, garbage, NULL, NULL, NULL, &report), MODELC_E_CORRUPT, garbage);
    CHECK_STATUS(modelc_verify(src, src, "{\"samples\": \"two\"}", NULL, NULL, &report), MODELC_E_INVALID_ARGUMENT,
                 "samples");
    CHECK_STATUS(modelc_verify(src, src, "{\"rtol\": -1}", NULL, NULL, &report), MODELC_E_INVALID_ARGUMENT, "rtol");

    char *json = (char *)"sentinel";
    CHECK_STATUS(modelc_inspect(NULL, &json), MODELC_E_INVALID_ARGUMENT, "path is NULL");
    CHECK(json == (char *)"sentinel" || json == NULL, "inspect(NULL) touched the result oddly");
    CHECK_STATUS(modelc_inspect(src, NULL), MODELC_E_INVALID_ARGUMENT, "info_json");
    json = (char *)"sentinel";
    CHECK_STATUS(modelc_inspect(missing, &json), MODELC_E_IO, missing);
    CHECK(json == NULL, "a failed inspect must set *info_json to NULL");
    CHECK_STATUS(modelc_inspect(garbage, &json), MODELC_E_CORRUPT, garbage);
    CHECK_STATUS(modelc_inspect(tmpdir, &json), MODELC_E_INVALID_ARGUMENT, "folder");
    CHECK_STATUS(modelc_backends(NULL), MODELC_E_INVALID_ARGUMENT, "json");

    size_t size = 0, out_size = 7;
    unsigned char *bytes = read_file(src, &size);
    void *out = (void *)"sentinel";
    CHECK_STATUS(modelc_convert_bytes(NULL, 10, NULL, "onnx", NULL, NULL, NULL, &out, &out_size),
                 MODELC_E_INVALID_ARGUMENT, "data is NULL");
    CHECK(out == NULL && out_size == 0, "a failed convert_bytes must set *out to NULL and *out_size to 0");
    CHECK_STATUS(modelc_convert_bytes(bytes, size, NULL, "onnx", NULL, NULL, NULL, NULL, &out_size),
                 MODELC_E_INVALID_ARGUMENT, "out and out_size");
    CHECK_STATUS(modelc_convert_bytes(bytes, size, NULL, "onnx", NULL, NULL, NULL, &out, NULL),
                 MODELC_E_INVALID_ARGUMENT, "out and out_size");
    CHECK_STATUS(modelc_convert_bytes(bytes, size, NULL, NULL, NULL, NULL, NULL, &out, &out_size),
                 MODELC_E_INVALID_ARGUMENT, "name the output format");
    CHECK_STATUS(modelc_convert_bytes(bytes, size, NULL, "coreml", NULL, NULL, NULL, &out, &out_size),
                 MODELC_E_INVALID_ARGUMENT, "coreml");
    CHECK_STATUS(modelc_convert_bytes(bytes, size, "coreml", "onnx", NULL, NULL, NULL, &out, &out_size),
                 MODELC_E_INVALID_ARGUMENT, "coreml");
    CHECK_STATUS(modelc_convert_bytes(bytes, size, NULL, "onnx", "{\"bogus_key\": 1}", NULL, NULL, &out, &out_size),
                 MODELC_E_INVALID_ARGUMENT, "bogus_key");
    CHECK_STATUS(modelc_convert_bytes(bytes, size, NULL, "onnx", "{\"external_data\": true}", NULL, NULL, &out, &out_size),
                 MODELC_E_INVALID_ARGUMENT, "external_data");
    CHECK_STATUS(modelc_convert_bytes("garbage", 7, NULL, "onnx", NULL, NULL, NULL, &out, &out_size),
                 MODELC_E_CORRUPT, "not a model");
    CHECK_STATUS(modelc_convert_bytes(NULL, 0, NULL, "onnx", NULL, NULL, NULL, &out, &out_size), MODELC_E_CORRUPT,
                 "not a model");
    CHECK_STATUS(modelc_convert_bytes(bytes, size / 2, "onnx", "onnx", NULL, NULL, NULL, &out, &out_size),
                 MODELC_E_CORRUPT, "<memory>");
    CHECK(out == NULL, "a failed convert_bytes left *out set");
    CHECK_STATUS(modelc_convert_bytes(bytes, size, "hf", "onnx", NULL, NULL, NULL, &out, &out_size),
                 MODELC_E_INVALID_ARGUMENT, "folder");
    CHECK_STATUS(modelc_convert_bytes(bytes, size, NULL, "hf", NULL, NULL, NULL, &out, &out_size),
                 MODELC_E_INVALID_ARGUMENT, "does not write");
    CHECK_STATUS(modelc_convert_bytes(bytes, size, NULL, "safetensors", "{\"max_shard_size\": \"1KB\"}", NULL, NULL, &out,
                                      &out_size),
                 MODELC_E_INVALID_ARGUMENT, "max_shard_size");
    CHECK_STATUS(modelc_convert_bytes(bytes, size, NULL, "npy", NULL, NULL, NULL, &out, &out_size), MODELC_E_UNSUPPORTED,
                 "weights only");

    report = (char *)"sentinel";
    out = (void *)"sentinel";
    out_size = 7;
    CHECK_STATUS(modelc_compress_bytes(NULL, 10, NULL, "{\"quantize\": \"int8\"}", NULL, NULL, &out, &out_size, &report),
                 MODELC_E_INVALID_ARGUMENT, "data is NULL");
    CHECK(out == NULL && out_size == 0 && report == NULL,
          "a failed compress_bytes must set *out and *report_json to NULL and *out_size to 0");
    CHECK_STATUS(modelc_compress_bytes(bytes, size, NULL, "{\"quantize\": \"int8\"}", NULL, NULL, NULL, &out_size, NULL),
                 MODELC_E_INVALID_ARGUMENT, "out and out_size");
    CHECK_STATUS(modelc_compress_bytes(bytes, size, NULL, "{\"quantize\": \"int8\"}", NULL, NULL, &out, NULL, NULL),
                 MODELC_E_INVALID_ARGUMENT, "out and out_size");
    CHECK_STATUS(modelc_compress_bytes(bytes, size, NULL, NULL, NULL, NULL, &out, &out_size, NULL),
                 MODELC_E_INVALID_ARGUMENT, "nothing to do");
    CHECK_STATUS(modelc_compress_bytes(bytes, size, NULL, "{\"bogus_key\": 1}", NULL, NULL, &out, &out_size, NULL),
                 MODELC_E_INVALID_ARGUMENT, "bogus_key");
    CHECK_STATUS(modelc_compress_bytes(bytes, size, "hf", "{\"quantize\": \"int8\"}", NULL, NULL, &out, &out_size, NULL),
                 MODELC_E_INVALID_ARGUMENT, "folder");
    CHECK_STATUS(modelc_compress_bytes(bytes, size, NULL, "{\"quantize\": \"int8\", \"mode\": \"static\", "
                                       "\"calibration\": \"/no/such/calib.npz\"}",
                                       NULL, NULL, &out, &out_size, NULL),
                 MODELC_E_IO, "/no/such/calib.npz");
    CHECK_STATUS(modelc_compress_bytes("garbage", 7, NULL, "{\"quantize\": \"int8\"}", NULL, NULL, &out, &out_size, &report),
                 MODELC_E_CORRUPT, "not a model");
    CHECK_STATUS(modelc_compress_bytes(bytes, size / 2, "onnx", "{\"quantize\": \"int8\"}", NULL, NULL, &out, &out_size,
                                       &report),
                 MODELC_E_CORRUPT, "<memory>");
    CHECK(out == NULL && report == NULL, "a failed compress_bytes left *out or *report_json set");
    free(bytes);

    /* modelc_distill (ABI 3): the same argument and option checks, no output on failure. */
    report = (char *)"sentinel";
    CHECK_STATUS(modelc_distill(NULL, src, dst, NULL, NULL, NULL, &report), MODELC_E_INVALID_ARGUMENT, "teacher is NULL");
    CHECK(report == NULL, "a failed distill left *report_json set");
    CHECK_STATUS(modelc_distill(src, NULL, dst, NULL, NULL, NULL, NULL), MODELC_E_INVALID_ARGUMENT, "student is NULL");
    CHECK_STATUS(modelc_distill(src, "auto:width=0.5", dst, "{\"bogus_key\": 1}", NULL, NULL, NULL),
                 MODELC_E_INVALID_ARGUMENT, "bogus_key");
    CHECK_STATUS(modelc_distill(src, "auto:width=0.5", dst, NULL, NULL, NULL, NULL), MODELC_E_INVALID_ARGUMENT, "data");
    CHECK_STATUS(modelc_distill(src, "auto:width=0.5", dst, "{\"data\": \"x.npz\", \"alpha\": 2}", NULL, NULL, NULL),
                 MODELC_E_INVALID_ARGUMENT, "alpha");
    CHECK(!exists(dst), "a failed distill left %s", dst);

    /* The last error belongs to the thread's last failure: a success leaves it alone. */
    CHECK_STATUS(modelc_inspect(missing, &json), MODELC_E_IO, missing);
    CHECK_STATUS(modelc_backends(&json), MODELC_OK, "");
    CHECK(strstr(modelc_last_error(), missing) != NULL, "a successful call changed the last error to %s",
          modelc_last_error());
    modelc_free(json);
    modelc_free(NULL);

    CHECK(count_entries() == before, "failed calls left files in %s", tmpdir);
    unlink(garbage);
}

/* ---- cancellation ------------------------------------------------------------------------- */

static void test_cancel(const char *src) {
    static const char *stages[] = {"read", "write"};
    char dst[512];
    path_in_tmp(dst, sizeof dst, "cancelled.onnx");
    int before = count_entries();
    for (int i = 0; i < 2; i++) {
        struct progress_log log = {.cancel_at = stages[i]};
        CHECK_STATUS(modelc_convert(src, dst, NULL, log_progress, &log), MODELC_E_CANCELLED, stages[i]);
        CHECK(!exists(dst), "cancelled at %s, yet %s exists", stages[i], dst);
        CHECK(count_entries() == before, "cancelled at %s, yet files were left in %s", stages[i], tmpdir);
        CHECK(strcmp(LAST_STAGE(log), stages[i]) == 0, "the operation went on after the cancel at %s", stages[i]);

        size_t size = 0, out_size = 0;
        unsigned char *bytes = read_file(src, &size);
        void *out = NULL;
        struct progress_log mlog = {.cancel_at = stages[i]};
        CHECK_STATUS(modelc_convert_bytes(bytes, size, NULL, "onnx", NULL, log_progress, &mlog, &out, &out_size),
                     MODELC_E_CANCELLED, "cancelled");
        CHECK(out == NULL, "a cancelled convert_bytes returned a buffer");
        free(bytes);
    }
    for (int i = 0; i < 2; i++) {
        struct progress_log log = {.cancel_at = stages[i]};
        char *report = NULL;
        CHECK_STATUS(modelc_compress(src, dst, "{\"quantize\": \"int8\"}", log_progress, &log, &report),
                     MODELC_E_CANCELLED, stages[i]);
        CHECK(report == NULL && !exists(dst) && count_entries() == before, "compress cancelled at %s left something",
              stages[i]);

        size_t size = 0, out_size = 0;
        unsigned char *bytes = read_file(src, &size);
        void *out = NULL;
        struct progress_log mlog = {.cancel_at = stages[i]};
        CHECK_STATUS(modelc_compress_bytes(bytes, size, NULL, "{\"quantize\": \"int8\"}", log_progress, &mlog, &out,
                                           &out_size, &report),
                     MODELC_E_CANCELLED, stages[i]);
        CHECK(out == NULL && out_size == 0 && report == NULL, "a cancelled compress_bytes returned something");
        CHECK(strcmp(LAST_STAGE(mlog), stages[i]) == 0, "compress_bytes went on after the cancel at %s", stages[i]);
        free(bytes);
    }
    struct progress_log vlog = {.cancel_at = "load"};
    CHECK_STATUS(modelc_verify(src, src, NULL, log_progress, &vlog, NULL), MODELC_E_CANCELLED, "load");

    /* At "done" the output is complete: too late to cancel, the call succeeds. */
    struct progress_log log = {.cancel_at = "done"};
    CHECK_STATUS(modelc_convert(src, dst, NULL, log_progress, &log), MODELC_OK, "");
    CHECK(exists(dst), "convert with a late cancel left no output");
    unlink(dst);
}

/* ---- threads ------------------------------------------------------------------------------- */

enum { THREADS = 8 };
static int iterations = 40;
static const char *thread_src;

static void *thread_main(void *arg) {
    long id = (long)arg;
    char dst[512], missing[512];
    snprintf(dst, sizeof dst, "%s/thread%ld.onnx", tmpdir, id);
    snprintf(missing, sizeof missing, "%s/missing-in-thread-%ld.onnx", tmpdir, id);
    size_t size = 0;
    unsigned char *bytes = read_file(thread_src, &size);
    for (int i = 0; i < iterations; i++) {
        struct progress_log log = {0};
        CHECK_STATUS(modelc_convert(thread_src, dst, NULL, log_progress, &log), MODELC_OK, "");
        CHECK(log.n >= 3 && strcmp(LAST_STAGE(log), "done") == 0, "thread %ld: %d progress reports", id, log.n);
        char *info = NULL;
        CHECK_STATUS(modelc_inspect(dst, &info), MODELC_OK, "");
        CHECK(info != NULL && strstr(info, "\"format\":\"onnx\"") != NULL, "thread %ld: bad info", id);
        modelc_free(info);
        CHECK_STATUS(modelc_verify(thread_src, dst, "{\"atol\": 0, \"rtol\": 0}", NULL, NULL, &info), MODELC_OK, "");
        modelc_free(info);
        void *out = NULL;
        size_t out_size = 0;
        CHECK_STATUS(modelc_convert_bytes(bytes, size, NULL, "onnx", NULL, NULL, NULL, &out, &out_size), MODELC_OK, "");
        modelc_free(out);
        out = NULL;
        CHECK_STATUS(modelc_compress_bytes(bytes, size, NULL, "{\"quantize\": \"int8\"}", NULL, NULL, &out, &out_size, NULL),
                     MODELC_OK, "");
        CHECK(out != NULL && out_size > 0, "thread %ld: compress_bytes gave no bytes", id);
        modelc_free(out);
        /* Each thread's last error is its own, whatever the others do meanwhile. */
        CHECK_STATUS(modelc_inspect(missing, &info), MODELC_E_IO, missing);
        char *json = NULL;
        CHECK_STATUS(modelc_backends(&json), MODELC_OK, "");
        modelc_free(json);
        CHECK(strstr(modelc_last_error(), missing) != NULL, "thread %ld: last error is another thread's: %s", id,
              modelc_last_error());
    }
    free(bytes);
    unlink(dst);
    return NULL;
}

static void test_threads(const char *src) {
    pthread_t th[THREADS];
    thread_src = src;
    for (long i = 0; i < THREADS; i++) CHECK(pthread_create(&th[i], NULL, thread_main, (void *)i) == 0, "pthread_create");
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
}

/* ---- main ----------------------------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR [ITERATIONS]\n", argv[0]);
        return 2;
    }
    if (argc > 2) iterations = atoi(argv[2]);
    snprintf(tmpdir, sizeof tmpdir, "%s/modelc-capi-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }

    CHECK(modelc_abi_version() >= MODELC_ABI_VERSION, "library ABI %d is older than the header's %d",
          modelc_abi_version(), MODELC_ABI_VERSION);
    CHECK(modelc_version() != NULL && modelc_version()[0] != '\0', "empty version");
    CHECK(strcmp(modelc_last_error(), "") == 0, "a fresh thread has a last error: %s", modelc_last_error());
    CHECK(strcmp(modelc_status_string(MODELC_OK), "ok") == 0, "status string of OK");
    for (int s = MODELC_E_INTERNAL; s <= MODELC_E_CANCELLED; s++)
        CHECK(strcmp(modelc_status_string((modelc_status)s), "unknown status") != 0, "no name for status %d", s);
    CHECK(strcmp(modelc_status_string((modelc_status)99), "unknown status") == 0, "status 99 has a name");

    char *backends = NULL;
    CHECK_STATUS(modelc_backends(&backends), MODELC_OK, "");
    CHECK(backends != NULL && strstr(backends, "\"backend\":") != NULL && strstr(backends, "\"kernels\":") != NULL,
          "backends JSON: %s", backends ? backends : "(null)");
    modelc_free(backends);

    /* Every .onnx model in the fixture folder, in name order. */
    char *fixtures[64];
    int n = 0;
    DIR *d = opendir(argv[1]);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL && n < 64) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".onnx") == 0) {
            fixtures[n] = malloc(strlen(argv[1]) + len + 2);
            sprintf(fixtures[n++], "%s/%s", argv[1], e->d_name);
        }
    }
    if (d != NULL) closedir(d);
    CHECK(n > 0, "no .onnx fixtures in %s", argv[1]);
    qsort(fixtures, (size_t)n, sizeof fixtures[0], by_name);
    for (int i = 0; i < n; i++) test_fixture(fixtures[i]);

    if (n > 0) {
        test_bad_arguments(fixtures[0]);
        test_compress_verify(fixtures[0]);
        test_cancel(fixtures[0]);
        test_threads(fixtures[0]);
    }
    CHECK(count_entries() == 0, "files were left in %s", tmpdir);

    for (int i = 0; i < n; i++) free(fixtures[i]);
    nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    printf("test_capi: %d fixtures, %d threads x %d iterations, %d checks, %d failed\n", n, THREADS, iterations,
           checks, failures);
    return failures == 0 ? 0 : 1;
}
