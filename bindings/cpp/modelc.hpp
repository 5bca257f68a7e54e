// modelc.hpp — header-only C++17 wrapper of libmodelc (modelc.h).
//
//   #include "modelc.hpp"          // link with -lmodelc
//   modelc::convert("model.onnx", "out.onnx", R"({"external_data": true})");
//   std::string info = modelc::inspect("out.onnx");   // JSON text
//   modelc::compress("model.onnx", "int8.onnx", R"({"quantize": "int8"})");
//   modelc::verify("model.onnx", "int8.onnx", R"({"atol": 0.01})");
//   modelc::Buffer st = modelc::convert_bytes(bytes, size, "safetensors");      // in memory
//   modelc::CompressResult r = modelc::compress_bytes(bytes, size, R"({"quantize": "int8"})");
//
// Failures throw modelc::Error, which carries the modelc_status code and the library's
// message. Buffers the library allocates are owned by modelc::Buffer / copied into
// std::string, so nothing needs freeing by hand. std::string_view arguments are copied
// into NUL-terminated strings before the call (the C ABI takes C strings).
#ifndef MODELC_HPP
#define MODELC_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "modelc.h"

namespace modelc {

// Error is a failed call: status() is the modelc_status code, what() the message.
class Error : public std::runtime_error {
public:
    Error(modelc_status status, const std::string &message, std::string report = {})
        : std::runtime_error(message), status_(status), report_(std::move(report)) {}
    modelc_status status() const noexcept { return status_; }
    // A short English name of the status ("I/O error", ...).
    const char *status_string() const noexcept { return modelc_status_string(status_); }
    // For MODELC_E_VERIFY_FAILED from verify() or compress(): the JSON report that says
    // which outputs differ and by how much. Empty otherwise.
    const std::string &report() const noexcept { return report_; }

private:
    modelc_status status_;
    std::string report_;
};

namespace detail {
// Throws for a failed status, with the calling thread's last error as the message.
inline void check(modelc_status status) {
    if (status != MODELC_OK) throw Error(status, modelc_last_error());
}

// Takes ownership of a library-allocated C string and copies it into a std::string.
inline std::string take_string(char *p) {
    std::string s = p != nullptr ? p : "";
    modelc_free(p);
    return s;
}
} // namespace detail

// Buffer owns memory the library handed out and frees it with modelc_free (RAII).
class Buffer {
public:
    Buffer() = default;
    Buffer(void *data, std::size_t size) noexcept : data_(data), size_(size) {}
    Buffer(Buffer &&o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    Buffer &operator=(Buffer &&o) noexcept {
        if (this != &o) {
            modelc_free(data_);
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    Buffer(const Buffer &) = delete;
    Buffer &operator=(const Buffer &) = delete;
    ~Buffer() { modelc_free(data_); }

    const std::uint8_t *data() const noexcept { return static_cast<const std::uint8_t *>(data_); }
    std::size_t size() const noexcept { return size_; }
    const std::uint8_t *begin() const noexcept { return data(); }
    const std::uint8_t *end() const noexcept { return data() + size_; }

private:
    void *data_ = nullptr;
    std::size_t size_ = 0;
};

// Progress receives the stage and the fraction done (0 to 1); returning false cancels the
// operation (it then throws Error with MODELC_E_CANCELLED). An exception thrown by the
// callback also cancels it, and is rethrown from the call.
using Progress = std::function<bool(std::string_view stage, double fraction)>;

namespace detail {
// Carries a Progress through the C callback, and an exception back out of it: C++
// exceptions must not unwind through the library's C and Go frames.
struct ProgressCall {
    const Progress *progress;
    std::exception_ptr error;

    static int trampoline(void *user, const char *stage, double fraction) {
        auto *self = static_cast<ProgressCall *>(user);
        try {
            return (*self->progress)(stage, fraction) ? 0 : 1;
        } catch (...) {
            self->error = std::current_exception();
            return 1;
        }
    }
    modelc_progress_fn fn() const { return *progress ? &ProgressCall::trampoline : nullptr; }
    void finish(modelc_status status, std::string report = {}) {
        if (error) std::rethrow_exception(error);
        if (status != MODELC_OK) throw Error(status, modelc_last_error(), std::move(report));
    }
};
} // namespace detail

// The library's release, e.g. "0.1.0".
inline std::string version() { return modelc_version(); }

// The library's ABI version; compare with MODELC_ABI_VERSION.
inline int abi_version() { return modelc_abi_version(); }

// Converts the model at src to dst (format from dst's extension or option "to").
// options_json: a JSON object of the modelc command's flags, dashes as underscores.
inline void convert(std::string_view src, std::string_view dst, std::string_view options_json = {},
                    const Progress &progress = {}) {
    const std::string s(src), d(dst), o(options_json);
    detail::ProgressCall pc{&progress, nullptr};
    pc.finish(modelc_convert(s.c_str(), d.c_str(), o.c_str(), pc.fn(), &pc));
}

// Converts a model held in memory; from_format empty detects it. Returns the new bytes.
// Formats: onnx, safetensors, gguf, torch, npy (ABI 1: onnx only).
inline Buffer convert_bytes(const void *data, std::size_t size, std::string_view to_format,
                            std::string_view from_format = {}, std::string_view options_json = {},
                            const Progress &progress = {}) {
    const std::string to(to_format), from(from_format), o(options_json);
    detail::ProgressCall pc{&progress, nullptr};
    void *out = nullptr;
    std::size_t out_size = 0;
    modelc_status status = modelc_convert_bytes(data, size, from.c_str(), to.c_str(), o.c_str(), pc.fn(), &pc,
                                                &out, &out_size);
    Buffer result(out, out_size); // owns out, even when finish() throws
    pc.finish(status);
    return result;
}

// Compresses the ONNX model at src into dst; returns the JSON report. options_json: the
// flags of `modelc compress`, e.g. R"({"quantize": "int8", "per_channel": true})".
inline std::string compress(std::string_view src, std::string_view dst, std::string_view options_json = {},
                            const Progress &progress = {}) {
    const std::string s(src), d(dst), o(options_json);
    detail::ProgressCall pc{&progress, nullptr};
    char *report = nullptr;
    modelc_status status = modelc_compress(s.c_str(), d.c_str(), o.c_str(), pc.fn(), &pc, &report);
    std::string r = detail::take_string(report);
    pc.finish(status, r);
    return r;
}

// The result of compress_bytes: the compressed ONNX model's bytes and the JSON report.
struct CompressResult {
    Buffer model;
    std::string report;
};

// Compresses a model held in memory (from_format empty detects it); returns the compressed
// ONNX model's bytes, the same modelc::compress writes to a file, and the JSON report.
// options_json as for compress(); options naming files (calibration, recipe, inputs,
// labels) still take paths. A failed verification throws Error with MODELC_E_VERIFY_FAILED
// and the report (the output is dropped; a negative min_cosine reports without failing).
// Needs a library of ABI version 2 or later.
inline CompressResult compress_bytes(const void *data, std::size_t size, std::string_view options_json,
                                     std::string_view from_format = {}, const Progress &progress = {}) {
    const std::string from(from_format), o(options_json);
    detail::ProgressCall pc{&progress, nullptr};
    void *out = nullptr;
    std::size_t out_size = 0;
    char *report = nullptr;
    modelc_status status =
        modelc_compress_bytes(data, size, from.c_str(), o.c_str(), pc.fn(), &pc, &out, &out_size, &report);
    CompressResult result{Buffer(out, out_size), detail::take_string(report)}; // owns out and report first
    pc.finish(status, result.report);
    return result;
}

// Runs ref and cand on the same inputs and compares their outputs; returns the JSON
// report. Outputs outside the tolerance throw Error with MODELC_E_VERIFY_FAILED, whose
// report() holds the report. options_json: the flags of `modelc verify`.
inline std::string verify(std::string_view ref, std::string_view cand, std::string_view options_json = {},
                          const Progress &progress = {}) {
    const std::string r(ref), c(cand), o(options_json);
    detail::ProgressCall pc{&progress, nullptr};
    char *report = nullptr;
    modelc_status status = modelc_verify(r.c_str(), c.c_str(), o.c_str(), pc.fn(), &pc, &report);
    std::string text = detail::take_string(report);
    pc.finish(status, text);
    return text;
}

// Summarises the model at path as JSON text (as `modelc info --json`).
inline std::string inspect(std::string_view path) {
    const std::string p(path);
    char *json = nullptr;
    detail::check(modelc_inspect(p.c_str(), &json));
    return detail::take_string(json);
}

// Describes the compute backends as JSON text.
inline std::string backends() {
    char *json = nullptr;
    detail::check(modelc_backends(&json));
    return detail::take_string(json);
}

} // namespace modelc

#endif // MODELC_HPP
