// Content-Encoding decoding of HTTP bodies with zlib: gzip and deflate (zlib-wrapped or raw, as
// servers send both), up to two layers, guarded against compression bombs the way libhtp guards
// Suricata (output over a size *and* a ratio cap). zlib is given the body in fixed blocks counted
// from its first byte, so output, limits and bomb verdicts do not depend on how the body was
// segmented.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace spanguard::applayer::http {

enum class Coding : uint8_t { kGzip, kDeflate };

class BodyDecoder {
 public:
  static constexpr size_t kMaxLayers = 2;  // Suricata's response-body-decompress-layer-limit
  static constexpr size_t kBlock = 4096;   // input handed to zlib at a time

  enum class Result : uint8_t {
    kOk,
    kFull,  // `out` reached its cap: the rest of the output was dropped, decoding can stop
    kBomb,  // more than `output_limit` bytes at more than `ratio_limit` times the input
  };

  // `codings` in the order the sender applied them (Content-Encoding order), at most kMaxLayers.
  BodyDecoder(std::span<const Coding> codings, uint64_t output_limit, uint32_t ratio_limit);
  ~BodyDecoder();
  BodyDecoder(const BodyDecoder&) = delete;
  BodyDecoder& operator=(const BodyDecoder&) = delete;

  // Decodes the next body bytes, appending to `out` while it is shorter than `out_cap`. Input
  // short of a whole block waits for more, or for finish().
  Result decode(std::span<const uint8_t> in, std::string& out, size_t out_cap);
  // The body ended: decodes what is still waiting.
  Result finish(std::string& out, size_t out_cap);
  // Some layer met invalid data; from there on its input was passed through undecoded.
  bool failed() const { return failed_; }
  uint64_t produced() const { return produced_; }
  size_t memory_bytes() const;

 private:
  class Layer;
  bool emit(size_t layer, const uint8_t* data, size_t n);
  void run(const uint8_t* data, size_t n);

  std::vector<std::unique_ptr<Layer>> layers_;
  uint64_t output_limit_;
  uint32_t ratio_limit_;
  uint64_t consumed_ = 0;  // compressed bytes in
  uint64_t produced_ = 0;  // decoded bytes out of the last layer
  bool failed_ = false;
  Result result_ = Result::kOk;
  std::string pending_;  // input short of a block
  std::string* out_ = nullptr;
  size_t out_cap_ = 0;
};

}  // namespace spanguard::applayer::http
