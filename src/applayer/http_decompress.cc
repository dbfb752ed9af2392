// Content-Encoding decoding with zlib. "deflate" is sent both zlib-wrapped (RFC 9110 §8.4.1.2)
// and raw by real servers, and "gzip" bodies are sometimes plain deflate: the format of each layer
// is told by its first two bytes. Invalid data turns a layer into a pass-through (as libhtp does),
// so the bytes stay inspectable.
#include "spanguard/applayer/http_decompress.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

namespace spanguard::applayer::http {

namespace {

constexpr size_t kChunk = 8192;           // output produced per inflate() call
constexpr size_t kInflaterBytes = 44000;  // zlib state + 32 KiB window, for memory accounting

// Window bits for inflateInit2 from the first two bytes of a stream (RFC 1952 magic, RFC 1950
// header check), raw deflate otherwise.
int window_bits(const uint8_t head[2]) {
  if (head[0] == 0x1f && head[1] == 0x8b) return 16 + MAX_WBITS;
  if ((head[0] & 0x0f) == Z_DEFLATED && (head[0] >> 4) <= 7 && ((head[0] << 8) | head[1]) % 31 == 0)
    return MAX_WBITS;
  return -MAX_WBITS;
}

}  // namespace

// One zlib inflate stream.
class BodyDecoder::Layer {
 public:
  ~Layer() {
    if (started_) inflateEnd(&z_);
  }

  enum class Step : uint8_t { kMore, kStop };

  // Feeds `in`; decoded output goes to `decoder.emit(next, ...)`.
  Step feed(BodyDecoder& decoder, size_t next, const uint8_t* in, size_t n) {
    if (passthrough_) return decoder.emit(next, in, n) ? Step::kMore : Step::kStop;
    if (finished_) return Step::kMore;  // bytes after the end of the stream are not body
    prefix_.append(reinterpret_cast<const char*>(in), std::min(n, kReplay - prefix_.size()));
    fed_ += n;
    if (!started_) {
      while (head_len_ < 2 && n > 0) head_[head_len_++] = *in++, --n;
      if (head_len_ < 2) return Step::kMore;
      if (inflateInit2(&z_, window_bits(head_)) != Z_OK) {
        return fail(decoder, next, head_, head_len_, in, n);
      }
      started_ = true;
      const Step st = inflate_some(decoder, next, head_, 2, in, n);
      if (st == Step::kStop || passthrough_) return st;
    }
    return inflate_some(decoder, next, in, n, nullptr, 0);
  }

  bool started() const { return started_; }

 private:
  static constexpr size_t kReplay = 64;

  // Inflates `in`; `later`/`later_n` are input bytes not yet handed to zlib (a failure passes
  // them through too).
  Step inflate_some(BodyDecoder& decoder, size_t next, const uint8_t* in, size_t n,
                    const uint8_t* later, size_t later_n) {
    if (finished_) return Step::kMore;
    uint8_t out[kChunk];
    z_.next_in = const_cast<Bytef*>(in);
    z_.avail_in = static_cast<uInt>(n);
    for (;;) {
      z_.next_out = out;
      z_.avail_out = sizeof out;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      const size_t produced = sizeof out - z_.avail_out;
      if (produced > 0) {
        produced_any_ = true;
        if (!decoder.emit(next, out, produced)) return Step::kStop;
      }
      if (rc == Z_STREAM_END) {
        // gzip allows several members back to back (RFC 1952 §2.2).
        if (z_.avail_in > 0 && *z_.next_in == 0x1f && inflateReset(&z_) == Z_OK) continue;
        finished_ = true;
        return Step::kMore;
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return fail(decoder, next, z_.next_in, z_.avail_in, later, later_n);
      }
      if (z_.avail_in == 0 && z_.avail_out != 0) return Step::kMore;
      if (rc == Z_BUF_ERROR && produced == 0) return Step::kMore;
    }
  }

  // Invalid data: from here on the layer passes its input through. When it failed before any
  // output and all its input so far is still at hand, all of it is passed (bytes zlib already
  // took into its bit buffer are not lost); otherwise what zlib had not taken yet.
  Step fail(BodyDecoder& decoder, size_t next, const uint8_t* a, size_t an, const uint8_t* b,
            size_t bn) {
    passthrough_ = true;
    decoder.failed_ = true;
    if (!produced_any_ && fed_ <= kReplay) {
      return decoder.emit(next, reinterpret_cast<const uint8_t*>(prefix_.data()), prefix_.size())
                 ? Step::kMore
                 : Step::kStop;
    }
    if (an > 0 && !decoder.emit(next, a, an)) return Step::kStop;
    if (bn > 0 && !decoder.emit(next, b, bn)) return Step::kStop;
    return Step::kMore;
  }

  z_stream z_{};
  std::string prefix_;  // the first kReplay input bytes
  uint64_t fed_ = 0;
  uint8_t head_[2] = {};
  uint8_t head_len_ = 0;
  bool started_ = false;
  bool finished_ = false;
  bool passthrough_ = false;
  bool produced_any_ = false;
};

BodyDecoder::BodyDecoder(std::span<const Coding> codings, uint64_t output_limit,
                         uint32_t ratio_limit)
    : output_limit_(output_limit), ratio_limit_(ratio_limit) {
  // The sender applied codings[0] first: the receiver undoes the last one first.
  const size_t n = std::min(codings.size(), kMaxLayers);
  for (size_t i = 0; i < n; ++i) layers_.push_back(std::make_unique<Layer>());
}

BodyDecoder::~BodyDecoder() = default;

BodyDecoder::Result BodyDecoder::decode(std::span<const uint8_t> in, std::string& out,
                                        size_t out_cap) {
  if (result_ != Result::kOk || in.empty()) return result_;
  out_ = &out;
  out_cap_ = out_cap;
  const uint8_t* p = in.data();
  size_t n = in.size();
  if (!pending_.empty()) {
    const size_t take = std::min(n, kBlock - pending_.size());
    pending_.append(reinterpret_cast<const char*>(p), take);
    p += take, n -= take;
    if (pending_.size() == kBlock) {
      const std::string block = std::move(pending_);
      pending_.clear();
      run(reinterpret_cast<const uint8_t*>(block.data()), block.size());
    }
  }
  while (n >= kBlock && result_ == Result::kOk) {
    run(p, kBlock);
    p += kBlock, n -= kBlock;
  }
  if (result_ == Result::kOk) pending_.append(reinterpret_cast<const char*>(p), n);
  out_ = nullptr;
  return result_;
}

BodyDecoder::Result BodyDecoder::finish(std::string& out, size_t out_cap) {
  if (result_ != Result::kOk || pending_.empty()) return result_;
  out_ = &out;
  out_cap_ = out_cap;
  const std::string block = std::move(pending_);
  pending_ = std::string();
  run(reinterpret_cast<const uint8_t*>(block.data()), block.size());
  out_ = nullptr;
  return result_;
}

void BodyDecoder::run(const uint8_t* data, size_t n) {
  consumed_ += n;
  if (layers_.empty()) {
    emit(0, data, n);
  } else {
    layers_[0]->feed(*this, 1, data, n);
  }
}

bool BodyDecoder::emit(size_t layer, const uint8_t* data, size_t n) {
  if (result_ != Result::kOk) return false;
  if (layer < layers_.size()) {
    return layers_[layer]->feed(*this, layer + 1, data, n) == Layer::Step::kMore &&
           result_ == Result::kOk;
  }
  produced_ += n;
  const size_t room = out_cap_ > out_->size() ? out_cap_ - out_->size() : 0;
  out_->append(reinterpret_cast<const char*>(data), std::min(room, n));
  if (n > room) {
    result_ = Result::kFull;
  } else if (produced_ > output_limit_ &&
             (ratio_limit_ == 0 || produced_ / ratio_limit_ > consumed_)) {
    result_ = Result::kBomb;
  }
  return result_ == Result::kOk;
}

size_t BodyDecoder::memory_bytes() const {
  size_t bytes = sizeof *this + pending_.capacity();
  for (const auto& l : layers_) bytes += sizeof(Layer) + (l->started() ? kInflaterBytes : 0);
  return bytes;
}

}  // namespace spanguard::applayer::http
