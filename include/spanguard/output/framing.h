// The stream's framing: each message is a varint length followed by that many bytes of protobuf
// (protobuf's delimited format, `parseDelimitedFrom` in other languages). The same frames make up
// the spool's files. Readers enforce a maximum frame size before buffering a frame.
#pragma once

#include <google/protobuf/message_lite.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace spanguard::output {

// Appends `message` to `out` as one frame.
void append_frame(const google::protobuf::MessageLite& message, std::string& out);

// Splits received bytes into frames. Not thread-safe; one per connection or file.
class FrameReader {
 public:
  enum class Result : uint8_t {
    kFrame,      // `message` holds the next frame
    kNeedMore,   // the buffered bytes end inside a frame (or are empty)
    kOversized,  // the length prefix exceeds the maximum: the stream cannot be trusted further
    kMalformed,  // a bad length prefix or bytes that do not parse as the message
  };

  explicit FrameReader(uint64_t max_frame) : max_frame_(max_frame) {}

  // Receiving without a copy: read(fd, prepare(n), n), then commit(bytes read).
  char* prepare(size_t n);
  void commit(size_t n) { end_ += n; }
  void append(std::string_view bytes);

  // Parses the next complete frame into `message` (cleared first). `raw`, when given, receives the
  // whole frame, length prefix included, valid until the reader is next changed. After kOversized
  // or kMalformed, error() says why and the reader stays in that state.
  Result next(google::protobuf::MessageLite& message, std::string_view* raw = nullptr);

  const std::string& error() const { return error_; }
  size_t buffered() const { return end_ - begin_; }
  uint64_t consumed() const { return consumed_; }  // bytes of the frames returned so far
  void clear();

 private:
  uint64_t max_frame_;
  std::string buffer_;
  size_t begin_ = 0, end_ = 0;
  uint64_t consumed_ = 0;
  std::string error_;
  Result failed_ = Result::kNeedMore;
};

}  // namespace spanguard::output
