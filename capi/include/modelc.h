/*
 * modelc.h — the C ABI of libmodelc: convert, compress, verify and inspect deep-learning
 * models.
 *
 * This header is written by hand and is the contract; the library is built from Go
 * (capi/, `go build -buildmode=c-shared`). C and C++ hosts include it and link with
 * -lmodelc; the Python package and bindings/cpp/modelc.hpp are built on it.
 *
 * Stability. The ABI only grows: a function, once here, keeps its name, parameters and
 * meaning; new features arrive as new functions, new status codes are appended, and
 * MODELC_ABI_VERSION goes up by one with every addition. A host built against version N
 * runs with any library whose modelc_abi_version() is >= N; check it at start-up.
 *
 * Conventions, for every function below:
 *   - Functions that can fail return a modelc_status; MODELC_OK (0) is success. On failure
 *     modelc_last_error() gives the message on the same thread.
 *   - Strings going in are NUL-terminated UTF-8; the library copies what it needs and keeps
 *     no pointer the caller passed once the call returns.
 *   - Every buffer coming out (char **, void **) is allocated by the library and must be
 *     released with modelc_free(). On failure an out-pointer is set to NULL (a report
 *     that explains a MODELC_E_VERIFY_FAILED excepted), so freeing it unconditionally
 *     after the call is always safe.
 *   - options_json is a JSON object whose keys are the `modelc` command's flag names with
 *     dashes turned into underscores (e.g. {"external_data": true}); NULL or "" means no
 *     options. An unknown key or a value of the wrong type is MODELC_E_INVALID_ARGUMENT
 *     naming the key.
 *   - All functions may be called from several threads at once.
 *   - The library installs no signal handlers. It embeds a Go runtime: load only one
 *     Go-built shared library per process, and never dlclose() it.
 */
#ifndef MODELC_H
#define MODELC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes (see "Stability" above).
 *   1: the first release.
 *   2: adds modelc_compress_bytes; modelc_convert_bytes reads and writes safetensors,
 *      gguf, torch and npy besides onnx. Nothing of version 1 changed.
 *   3: adds modelc_distill; modelc_compress takes "recover" and the training options.
 *      Nothing of version 2 changed. */
#define MODELC_ABI_VERSION 3

/*
 * Status codes: one per error class of the engine. The numbering is fixed (codes are only
 * ever appended) and matches the `modelc` command's exit codes, except that the command
 * reports MODELC_E_INVALID_ARGUMENT as its usage error.
 */
typedef enum modelc_status {
    MODELC_OK = 0,
    MODELC_E_INTERNAL = 1,         /* a bug in modelc (including a recovered panic): please report it */
    MODELC_E_INVALID_ARGUMENT = 2, /* a NULL or bad argument, bad options JSON, an unknown option key */
    MODELC_E_IO = 3,               /* a file could not be read or written */
    MODELC_E_CORRUPT = 4,          /* the input is malformed, or not a format modelc reads */
    MODELC_E_UNSUPPORTED = 5,      /* a valid input uses an op or dtype modelc does not support */
    MODELC_E_VERIFY_FAILED = 6,    /* verification found the models differ beyond tolerance */
    MODELC_E_CANCELLED = 7         /* the progress callback asked to stop */
} modelc_status;

/*
 * Progress and cancellation. A long operation calls this with the stage it is in ("read",
 * "write", "done", ...) and the fraction of the work done so far (0 to 1). Return 0 to go
 * on, non-zero to cancel: the operation then stops at the next checkpoint, returns
 * MODELC_E_CANCELLED and leaves no output file (a request made at "done", when the output
 * is already complete, is too late and is ignored). While writing, "write" comes again
 * after every 1% of the tensor data or 64 MiB, whichever is less, so a cancel takes
 * effect within that much work.
 * The callback runs only during the call (on the calling thread today), never
 * concurrently with itself and never after the call returns; `stage` is valid only
 * during the callback. `user` is passed through untouched.
 * The callback must not throw (C++) or longjmp out.
 */
typedef int (*modelc_progress_fn)(void *user, const char *stage, double fraction);

/* ---- version and errors ---------------------------------------------------------------- */

/* The library's release, e.g. "0.1.0". A static string: do not free it. */
const char *modelc_version(void);

/* The ABI version of the library: compare it with MODELC_ABI_VERSION. */
int modelc_abi_version(void);

/*
 * The message of the calling thread's last failed call ("" if none has failed), naming
 * what was wrong and where (file, tensor, node, byte offset). Successful calls leave it
 * unchanged. The string belongs to the library and stays valid until the next failing
 * call on the same thread; copy it to keep it.
 */
const char *modelc_last_error(void);

/* A short English name of a status code ("I/O error", ...). A static string. */
const char *modelc_status_string(modelc_status status);

/* Releases a buffer the library handed out. NULL is ignored. */
void modelc_free(void *ptr);

/* ---- operations -------------------------------------------------------------------------- */

/*
 * Converts the model at `src` to `dst`, in the format dst's extension names (or option
 * "to"). Options: "to" (format name), "external_data" (bool), "external_data_file"
 * (string), "size_threshold" (bytes), "opset" (ONNX outputs: convert to this ai.onnx
 * opset, 7 to 23; a node the target cannot express is MODELC_E_UNSUPPORTED, named in the
 * error message), "splits" (N), "shard" ("I/N" or "auto/N"), "max_shard_tensors" (GGUF
 * split sets and safetensors shards, as the CLI flags). The output appears atomically: on any failure,
 * cancellation included, no file is left at dst, and src is never modified.
 * `progress` may be NULL; `user` is passed to it.
 */
modelc_status modelc_convert(const char *src, const char *dst, const char *options_json,
                             modelc_progress_fn progress, void *user);

/*
 * Converts a model held in memory: `size` bytes at `data`, in format `from_format` (NULL
 * or "" detects it from the bytes), to `to_format` (NULL or "" takes option "to"; one of
 * them is needed). On success *out receives a new buffer of *out_size bytes (release it
 * with modelc_free). The library reads `data` only during the call. Options as for
 * modelc_convert, except those that make files ("external_data", "external_data_file",
 * "max_shard_size", "max_shard_tensors", "splits", "shard" are MODELC_E_INVALID_ARGUMENT); "quantize" (a ggml type) applies to
 * gguf outputs, "quantize"/"mode"/"calibration"/"nhwc_io" to tflite outputs. Formats (since
 * ABI 2; ABI 1: onnx only): onnx, safetensors, gguf, tflite (TensorFlow Lite FlatBuffers),
 * torch (a state-dict checkpoint), npy (read: .npy or .npz, a lone .npy array is called
 * "arr_0"; written: .npz). A format that is a folder (hf) is MODELC_E_INVALID_ARGUMENT.
 * A weights-only model read from memory has no file name, so an ONNX output's graph is
 * unnamed; otherwise the bytes are those modelc_convert writes to a file.
 */
modelc_status modelc_convert_bytes(const void *data, size_t size, const char *from_format,
                                   const char *to_format, const char *options_json,
                                   modelc_progress_fn progress, void *user,
                                   void **out, size_t *out_size);

/*
 * Compresses the ONNX model at `src` into `dst` (an .onnx path). Options: the flags of
 * `modelc compress` (see `modelc help`), e.g. {"quantize": "int8", "per_channel": true},
 * {"prune": "2:4"}, {"simplify": true}, {"recipe": "steps.json"}, {"verify": true}.
 * If report_json is not NULL, *report_json receives the report as a JSON object (bytes
 * and parameters before and after, each pass and layer with its relative error, and the
 * verification when asked for). With "verify", MODELC_E_VERIFY_FAILED means an output's
 * cosine similarity fell below "min_cosine": dst is written then, and the report is
 * returned too. Otherwise a failure leaves no file at dst.
 */
modelc_status modelc_compress(const char *src, const char *dst, const char *options_json,
                              modelc_progress_fn progress, void *user, char **report_json);

/*
 * Compresses a model held in memory (since ABI 2): `size` bytes at `data`, in format
 * `from_format` (NULL or "" detects it; any format modelc_convert_bytes reads, though only
 * a model with a graph, i.e. ONNX, has anything to compress). On success *out receives
 * the compressed ONNX model, a new buffer of *out_size bytes, the same bytes
 * modelc_compress writes to a file. Options as for modelc_compress; those that name files
 * ("calibration", "recipe", "inputs", "labels") still take paths. `data` is read only
 * during the call and never written. report_json as for modelc_compress (its "input" is
 * "<memory>", its "output" "<output>"). With "verify", MODELC_E_VERIFY_FAILED sets *out,
 * *out_size and *report_json (as modelc_compress keeps dst); any other failure sets *out
 * and *report_json to NULL and *out_size to 0.
 */
modelc_status modelc_compress_bytes(const void *data, size_t size, const char *from_format,
                                    const char *options_json, modelc_progress_fn progress, void *user,
                                    void **out, size_t *out_size, char **report_json);

/*
 * Distils (since ABI 3): trains `student` (an ONNX path, or "auto:width=F" to derive one
 * from the teacher by removing a fraction 1-F of every layer's output channels) to
 * reproduce the ONNX model `teacher`'s outputs, and writes it to `dst` (an .onnx path).
 * Options: the flags of `modelc distill`, e.g. {"data": "inputs.npz", "epochs": 20,
 * "labels": "y.npy", "match": ["t_feat=s_feat"], "temperature": 4}; "data" is required.
 * The progress callback sees one stage per epoch ("epoch 3/20 loss ... held-out agreement
 * ...") and may cancel. If report_json is not NULL, *report_json receives the report
 * (parameters and bytes of both, each epoch, held-out agreement and accuracy before and
 * after). A failure leaves no file at dst.
 */
modelc_status modelc_distill(const char *teacher, const char *student, const char *dst,
                             const char *options_json, modelc_progress_fn progress, void *user,
                             char **report_json);

/*
 * Runs the models `ref` and `cand` on the same inputs and compares their outputs.
 * Options: the flags of `modelc verify`: "inputs" (an .npz of inputs by name; default
 * random inputs), "samples", "seed", "labels" (an .npy of class indices), "atol", "rtol"
 * (|cand - ref| <= atol + rtol * |ref|; 1e-5 and 1e-4), "min_cosine", "threads".
 * Returns MODELC_OK when every output is within tolerance and MODELC_E_VERIFY_FAILED when
 * one is not; in both cases, if report_json is not NULL, *report_json receives the report
 * (per output: max and mean absolute error, max relative error, cosine similarity, top-1
 * agreement; sizes and parameter counts of both models).
 */
modelc_status modelc_verify(const char *ref, const char *cand, const char *options_json,
                            modelc_progress_fn progress, void *user, char **report_json);

/*
 * Summarises the model at `path`: *info_json receives a JSON object, the same as
 * `modelc info --json` prints (format, opsets, inputs, outputs, op histogram, parameter
 * count, bytes per dtype, metadata). Release it with modelc_free.
 */
modelc_status modelc_inspect(const char *path, char **info_json);

/*
 * Describes the compute backends: *json receives a JSON object with the CPU, its
 * features, the backends built in and available, the one in use and the kernel chosen for
 * each operation. Release it with modelc_free. An unusable MODELC_ACCEL environment value
 * is MODELC_E_INVALID_ARGUMENT.
 */
modelc_status modelc_backends(char **json);

#ifdef __cplusplus
}
#endif

#endif /* MODELC_H */
