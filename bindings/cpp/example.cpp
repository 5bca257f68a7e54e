// A tour of modelc.hpp: convert a model, inspect it, convert it in memory, compress and
// verify it, cancel a conversion, and handle errors.
//
//   g++ -std=c++17 -Wall -Werror -I lib -I bindings/cpp bindings/cpp/example.cpp -L lib -lmodelc -o example
//   ./example testdata/onnx/cnn.onnx /tmp/cnn-copy.onnx
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

#include "modelc.hpp"

int main(int argc, char **argv) {
    if (argc != 3) {
        std::cerr << "usage: " << argv[0] << " IN.onnx OUT.onnx\n";
        return 2;
    }
    if (modelc::abi_version() < MODELC_ABI_VERSION) {
        std::cerr << "libmodelc is older than this program's header\n";
        return 1;
    }
    std::cout << "libmodelc " << modelc::version() << "\n";
    try {
        // Convert, with a progress report.
        modelc::convert(argv[1], argv[2], "", [](std::string_view stage, double fraction) {
            std::cout << "  " << stage << " " << static_cast<int>(fraction * 100) << "%\n";
            return true;
        });
        std::cout << "info: " << modelc::inspect(argv[2]).substr(0, 120) << "...\n";

        // The same conversion in memory gives the same bytes.
        std::ifstream in(argv[1], std::ios::binary);
        std::vector<char> model((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        modelc::Buffer out = modelc::convert_bytes(model.data(), model.size(), "onnx");
        std::ifstream written(argv[2], std::ios::binary);
        std::vector<char> file((std::istreambuf_iterator<char>(written)), std::istreambuf_iterator<char>());
        if (out.size() != file.size() || std::memcmp(out.data(), file.data(), file.size()) != 0) {
            std::cerr << "in-memory and file conversions differ\n";
            return 1;
        }
        std::cout << "in memory: " << out.size() << " bytes, the same as the file\n";
        // Compress to int8 and verify: beyond the default tolerance, and the report says by how much.
        std::string compressed = std::string(argv[2]) + ".int8.onnx";
        std::string report = modelc::compress(argv[1], compressed, R"({"quantize": "int8"})");
        std::cout << "compress: " << report.substr(0, 100) << "...\n";
        try {
            modelc::verify(argv[1], compressed);
            std::cerr << "int8 weights verified exactly equal\n";
            return 1;
        } catch (const modelc::Error &e) {
            if (e.status() != MODELC_E_VERIFY_FAILED || e.report().find("\"pass\":false") == std::string::npos) throw;
            std::cout << "verify: " << e.what() << "\n";
        }
        modelc::verify(argv[1], compressed, R"({"atol": 1, "rtol": 1})");
        // The same compression in memory gives the same bytes as the file.
        modelc::CompressResult mem = modelc::compress_bytes(model.data(), model.size(), R"({"quantize": "int8"})");
        std::ifstream compressed_in(compressed, std::ios::binary);
        std::vector<char> cfile((std::istreambuf_iterator<char>(compressed_in)), std::istreambuf_iterator<char>());
        if (mem.model.size() != cfile.size() || std::memcmp(mem.model.data(), cfile.data(), cfile.size()) != 0) {
            std::cerr << "in-memory and file compressions differ\n";
            return 1;
        }
        std::cout << "compress in memory: " << mem.model.size() << " bytes, the same as the file\n";
        std::remove(compressed.c_str());
    } catch (const modelc::Error &e) {
        std::cerr << "modelc failed (" << e.status_string() << "): " << e.what() << "\n";
        return 1;
    }

    // Cancelling: the progress callback returns false, the call throws CANCELLED.
    std::remove(argv[2]);
    try {
        modelc::convert(argv[1], argv[2], "", [](std::string_view, double) { return false; });
        std::cerr << "the cancelled conversion succeeded\n";
        return 1;
    } catch (const modelc::Error &e) {
        if (e.status() != MODELC_E_CANCELLED || std::ifstream(argv[2]).good()) {
            std::cerr << "cancel: status " << e.status() << " or an output was left\n";
            return 1;
        }
        std::cout << "cancelled: " << e.what() << "\n";
    }

    // An exception from the callback comes back out of the call.
    try {
        modelc::convert(argv[1], argv[2], "", [](std::string_view, double) -> bool { throw std::runtime_error("stop"); });
        return 1;
    } catch (const std::runtime_error &e) {
        if (dynamic_cast<const modelc::Error *>(&e) != nullptr || std::string(e.what()) != "stop") return 1;
        std::cout << "callback exception rethrown: " << e.what() << "\n";
    }

    // Errors carry the status and a message naming the problem.
    try {
        modelc::inspect("no-such-model.onnx");
        return 1;
    } catch (const modelc::Error &e) {
        std::cout << "expected error (" << e.status_string() << "): " << e.what() << "\n";
        if (e.status() != MODELC_E_IO) return 1;
    }
    try {
        modelc::convert(argv[1], argv[2], R"({"no_such_option": 1})");
        return 1;
    } catch (const modelc::Error &e) {
        std::cout << "expected error (" << e.status_string() << "): " << e.what() << "\n";
        if (e.status() != MODELC_E_INVALID_ARGUMENT) return 1;
    }
    return 0;
}
