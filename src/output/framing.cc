// Varint length-delimited frames through protobuf's own delimited-message utilities.
#include "spanguard/output/framing.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>

#include <cstring>

namespace spanguard::output {

namespace {

// A varint of a 64-bit value takes at most 10 bytes.
constexpr size_t kMaxVarintBytes = 10;

}  // namespace

void append_frame(const google::protobuf::MessageLite& message, std::string& out) {
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::util::SerializeDelimitedToZeroCopyStream(message, &stream);
}

char* FrameReader::prepare(size_t n) {
  // Slide the unread bytes to the front once more than half of the buffer is consumed, so that a
  // long-lived connection does not grow its buffer without bound.
  if (begin_ > 0 && begin_ >= buffer_.size() / 2) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() < end_ + n) buffer_.resize(end_ + n);
  return buffer_.data() + end_;
}

void FrameReader::append(std::string_view bytes) {
  std::memcpy(prepare(bytes.size()), bytes.data(), bytes.size());
  commit(bytes.size());
}

FrameReader::Result FrameReader::next(google::protobuf::MessageLite& message,
                                      std::string_view* raw) {
  if (failed_ != Result::kNeedMore) return failed_;
  const auto* data = reinterpret_cast<const uint8_t*>(buffer_.data() + begin_);
  const size_t available = end_ - begin_;
  // Decode the length prefix ourselves first: CodedInputStream cannot tell "not all here yet"
  // from "malformed", and the size must be checked before waiting for the body.
  uint64_t length = 0;
  size_t header = 0;
  for (;; ++header) {
    if (header == kMaxVarintBytes) {
      error_ = "malformed frame length";
      return failed_ = Result::kMalformed;
    }
    if (header == available) return Result::kNeedMore;
    length |= uint64_t{data[header] & 0x7fu} << (7 * header);
    if (length > max_frame_) {
      error_ = "frame of " + std::to_string(length) + "+ bytes exceeds the maximum of " +
               std::to_string(max_frame_);
      return failed_ = Result::kOversized;
    }
    if ((data[header] & 0x80u) == 0) break;
  }
  ++header;
  if (available - header < length) return Result::kNeedMore;

  const size_t frame_size = header + static_cast<size_t>(length);
  google::protobuf::io::CodedInputStream in(data, static_cast<int>(frame_size));
  message.Clear();
  bool clean_eof = false;
  if (!google::protobuf::util::ParseDelimitedFromCodedStream(&message, &in, &clean_eof)) {
    error_ =
        "frame of " + std::to_string(length) + " bytes does not parse as " + message.GetTypeName();
    return failed_ = Result::kMalformed;
  }
  if (raw != nullptr) *raw = std::string_view(buffer_.data() + begin_, frame_size);
  begin_ += frame_size;
  consumed_ += frame_size;
  if (begin_ == end_) begin_ = end_ = 0;
  return Result::kFrame;
}

void FrameReader::clear() {
  begin_ = end_ = 0;
  consumed_ = 0;
  error_.clear();
  failed_ = Result::kNeedMore;
}

}  // namespace spanguard::output
