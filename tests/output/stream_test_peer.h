// Test helpers for the alert stream on real sockets: temporary directories, EVE-like alerts, EVE
// line files, bounded polling, and a raw peer that speaks the framing by hand, plaintext or TLS (a
// fake collector, subscriber or misbehaving sensor). Header-only; shared by tests/output and
// tests/collector.
#pragma once

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "spanguard/output/framing.h"
#include "spanguard/output/socket.h"
#include "spanguard/output/stream_channel.h"
#include "spanguard/output/stream_url.h"
#include "spanguard/v1/spanguard.pb.h"
#include "temp_dir.h"

namespace spanguard::testing {

using namespace std::chrono_literals;

// An alert as the detection path builds one (seq left for the stream to assign).
inline v1::Envelope make_alert(uint32_t sid) {
  v1::Envelope e;
  auto* a = e.mutable_alert();
  a->set_timestamp("2024-04-21T10:00:00.123456+0000");
  a->set_flow_id(1234567.0 + sid);
  a->set_event_type("alert");
  a->set_src_ip("198.51.100.9");
  a->set_src_port(50000);
  a->set_dest_ip("203.0.113.5");
  a->set_dest_port(80);
  a->set_proto("TCP");
  a->set_app_proto("http");
  auto* info = a->mutable_alert();
  info->set_action("allowed");
  info->set_gid(1);
  info->set_signature_id(sid);
  info->set_rev(1);
  info->set_signature("ET TEST stream delivery");
  info->set_category("Misc activity");
  info->set_severity(2);
  a->set_payload("GET /evil HTTP/1.1\r\n");
  return e;
}

inline std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Polls `done` until it holds or `limit` passes.
template <typename F>
bool eventually(F done, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// One end of a stream connection, driven by hand: plaintext, or TLS when given credentials.
class RawPeer {
 public:
  explicit RawPeer(output::StreamChannel channel, uint64_t max_frame = 64 << 20)
      : channel_(std::move(channel)), reader_(max_frame) {}

  static RawPeer connect(const std::string& url, const output::TlsCredentials* tls = nullptr) {
    std::string error;
    const auto parsed = output::parse_stream_url(url, "test", output::UrlUse::kConnect);
    const auto addresses = output::resolve(parsed, error);
    output::UniqueFd fd = output::start_connect(addresses.at(0), error);
    pollfd p{fd.get(), POLLOUT, 0};
    ::poll(&p, 1, 5000);
    if (output::finish_connect(fd.get()) != 0) fd.reset();
    if (!fd.valid() || tls == nullptr) return RawPeer(output::StreamChannel(std::move(fd)));
    return RawPeer(output::StreamChannel::tls_client(std::move(fd), *tls, parsed.host))
        .handshaken();
  }

  // Accepts one connection within `limit` (invalid peer on time-out).
  static RawPeer accept(output::Listener& listener, std::chrono::milliseconds limit = 10s,
                        const output::TlsCredentials* tls = nullptr) {
    pollfd p{listener.fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) {
      return RawPeer(output::StreamChannel());
    }
    std::string peer;
    output::UniqueFd fd = listener.accept(peer);
    if (tls == nullptr) return RawPeer(output::StreamChannel(std::move(fd)));
    return RawPeer(output::StreamChannel::tls_server(std::move(fd), *tls)).handshaken();
  }

  // Valid once connected (and, with TLS, authenticated both ways).
  bool valid() const { return channel_.valid(); }
  // Why the TLS handshake failed.
  const std::string& error() const { return error_; }
  // The names in the other end's certificate.
  std::string peer_names() const { return channel_.peer_names(); }

  bool send_bytes(std::string_view bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const auto io = channel_.write(bytes.data() + done, bytes.size() - done);
      if (io.status == output::StreamChannel::Status::kDone) {
        done += io.bytes;
        continue;
      }
      if (io.status != output::StreamChannel::Status::kWouldBlock) return false;
      pollfd p{channel_.fd(), channel_.poll_events(true), 0};
      if (::poll(&p, 1, 5000) <= 0) return false;
    }
    return true;
  }
  bool send(const v1::Envelope& e) {
    std::string frame;
    output::append_frame(e, frame);
    return send_bytes(frame);
  }
  bool send_ack(const std::string& run_id, uint64_t seq) {
    v1::Envelope e;
    e.mutable_ack()->set_run_id(run_id);
    e.mutable_ack()->set_seq(seq);
    return send(e);
  }

  // The next frame within `limit`; false on time-out, end of stream or a bad frame.
  bool read(v1::Envelope& out, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      const auto r = reader_.next(out);
      if (r == output::FrameReader::Result::kFrame) return true;
      if (r != output::FrameReader::Result::kNeedMore) return false;
      const auto io = channel_.read(reader_.prepare(65536), 65536);
      if (io.status == output::StreamChannel::Status::kDone) {
        reader_.commit(io.bytes);
        continue;
      }
      if (io.status != output::StreamChannel::Status::kWouldBlock) return false;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{channel_.fd(), channel_.poll_events(false), 0};
      if (::poll(&p, 1, static_cast<int>(left.count()) + 1) <= 0) return false;
    }
  }

  // True when the other end closes the connection within `limit` (data before that is skipped).
  bool closed_by_other_end(std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      const auto io = channel_.read(buf, sizeof buf);
      if (io.status == output::StreamChannel::Status::kClosed ||
          io.status == output::StreamChannel::Status::kFailed) {
        return true;
      }
      if (io.status == output::StreamChannel::Status::kDone) continue;
      pollfd p{channel_.fd(), channel_.poll_events(false), 0};
      ::poll(&p, 1, 50);
    }
    return false;
  }

 private:
  // Completes the TLS handshake within 5 s; on failure the peer is invalid and error() says why.
  RawPeer handshaken() && {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    for (;;) {
      const auto status = channel_.handshake();
      if (status == output::StreamChannel::Status::kDone) return std::move(*this);
      if (status != output::StreamChannel::Status::kWouldBlock ||
          std::chrono::steady_clock::now() >= deadline) {
        error_ = status == output::StreamChannel::Status::kWouldBlock ? "handshake timed out"
                                                                      : channel_.error();
        channel_.reset();
        return std::move(*this);
      }
      pollfd p{channel_.fd(), channel_.poll_events(false), 0};
      ::poll(&p, 1, 50);
    }
  }

  output::StreamChannel channel_;
  output::FrameReader reader_;
  std::string error_;
};

inline uint64_t event_seq(const v1::Envelope& e) {
  if (e.has_alert()) return e.alert().seq();
  if (e.has_reset_report()) return e.reset_report().seq();
  if (e.has_flow()) return e.flow().seq();
  return 0;
}

}  // namespace spanguard::testing
