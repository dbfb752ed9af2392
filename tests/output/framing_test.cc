// Frames: protobuf's delimited format both ways, frames split across reads, and the maximum frame
// size enforced from the length prefix alone.
#include "spanguard/output/framing.h"

#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>
#include <gtest/gtest.h>

#include "spanguard/v1/spanguard.pb.h"

namespace spanguard::output {
namespace {

v1::Envelope hello(const std::string& run) {
  v1::Envelope e;
  e.mutable_hello()->set_run_id(run);
  e.mutable_hello()->set_sensor_id("s1");
  return e;
}

TEST(Framing, FramesReadBackWithProtobufsOwnDelimitedParser) {
  std::string bytes;
  append_frame(hello("a"), bytes);
  append_frame(hello("b"), bytes);
  google::protobuf::io::ArrayInputStream in(bytes.data(), static_cast<int>(bytes.size()));
  v1::Envelope e;
  bool clean_eof = false;
  ASSERT_TRUE(google::protobuf::util::ParseDelimitedFromZeroCopyStream(&e, &in, &clean_eof));
  EXPECT_EQ(e.hello().run_id(), "a");
  ASSERT_TRUE(google::protobuf::util::ParseDelimitedFromZeroCopyStream(&e, &in, &clean_eof));
  EXPECT_EQ(e.hello().run_id(), "b");
  EXPECT_FALSE(google::protobuf::util::ParseDelimitedFromZeroCopyStream(&e, &in, &clean_eof));
  EXPECT_TRUE(clean_eof);
}

TEST(Framing, ReaderWaitsForWholeFramesFedAByteAtATime) {
  std::string bytes;
  append_frame(hello("first"), bytes);
  append_frame(hello("second"), bytes);
  FrameReader reader(1024);
  v1::Envelope e;
  std::vector<std::string> runs;
  std::string_view raw;
  for (const char c : bytes) {
    reader.append(std::string_view(&c, 1));
    while (reader.next(e, &raw) == FrameReader::Result::kFrame) runs.push_back(e.hello().run_id());
  }
  EXPECT_EQ(runs, (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(reader.consumed(), bytes.size());
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(Framing, RawFrameIsTheWholeFrame) {
  std::string bytes;
  append_frame(hello("x"), bytes);
  FrameReader reader(1024);
  reader.append(bytes);
  v1::Envelope e;
  std::string_view raw;
  ASSERT_EQ(reader.next(e, &raw), FrameReader::Result::kFrame);
  EXPECT_EQ(raw, bytes);
}

TEST(Framing, OversizedLengthIsRejectedBeforeTheBodyArrives) {
  FrameReader reader(1000);
  reader.append(std::string("\xe9\x07", 2));  // 1001
  v1::Envelope e;
  EXPECT_EQ(reader.next(e), FrameReader::Result::kOversized);
  EXPECT_NE(reader.error().find("exceeds the maximum of 1000"), std::string::npos);
  EXPECT_EQ(reader.next(e), FrameReader::Result::kOversized);  // stays failed
}

TEST(Framing, MalformedBytesAreRejected) {
  FrameReader bad_body(1000);
  bad_body.append(std::string("\x03\xff\xff\xff", 4));
  v1::Envelope e;
  EXPECT_EQ(bad_body.next(e), FrameReader::Result::kMalformed);
  EXPECT_NE(bad_body.error().find("spanguard.v1.Envelope"), std::string::npos);
  FrameReader bad_length(~uint64_t{0});
  bad_length.append(std::string(11, '\xff'));
  EXPECT_EQ(bad_length.next(e), FrameReader::Result::kMalformed);
}

}  // namespace
}  // namespace spanguard::output
