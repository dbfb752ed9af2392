// Control socket commands (see control.h).
#include "control.h"

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cstdio>

#include "spanguard/core/error.h"
#include "spanguard/core/log.h"
#include "spanguard/core/time.h"
#include "spanguard/events/events.h"
#include "spanguard/output/envelope.h"

#ifndef SPANGUARD_VERSION
#define SPANGUARD_VERSION "0.0.0"
#endif

namespace spanguard::cli {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void string_field(Writer& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void counters_object(Writer& w, const core::CounterSnapshot& counters) {
  w.StartObject();
  for (const auto& e : counters.entries()) {
    w.Key(e.name.data(), static_cast<rapidjson::SizeType>(e.name.size()));
    w.Uint64(e.value);
  }
  w.EndObject();
}

ops::ControlReply stats(const ControlTarget& t) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("uptime");
  w.Double(static_cast<double>(core::monotonic_ns() - t.started_ns) / 1e9);
  w.Key("workers");
  w.Uint(t.engine.worker_count());
  w.Key("counters");
  counters_object(w, t.engine.counters());
  w.Key("per_worker");
  w.StartArray();
  for (const core::CounterSnapshot& worker : t.engine.worker_counters()) counters_object(w, worker);
  w.EndArray();
  w.Key("capture");
  w.StartArray();
  for (const auto& [name, s] : t.engine.source_stats()) {
    w.StartObject();
    string_field(w, "interface", name);
    w.Key("received");
    w.Uint64(s.received);
    w.Key("kernel_dropped");
    w.Uint64(s.kernel_dropped);
    w.Key("interface_dropped");
    w.Uint64(s.interface_dropped);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {true, buffer.GetString()};
}

uint64_t number_argument(const std::string& key, const std::string& text, uint64_t max) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v > max) {
    throw core::ConfigError(key + " '" + text + "': not a number up to " + std::to_string(max));
  }
  return v;
}

pipeline::FlowFilter flow_filter(const std::vector<std::string>& args) {
  pipeline::FlowFilter f;
  if (args.size() % 2 != 0) {
    throw core::ConfigError(
        "filters come in pairs: ip ADDR, port N, proto NAME, app NAME, limit N");
  }
  for (size_t i = 0; i < args.size(); i += 2) {
    const std::string& key = args[i];
    const std::string& value = args[i + 1];
    if (key == "ip") {
      f.ip = core::IpAddress::parse(value);
      if (!f.ip) throw core::ConfigError("ip '" + value + "': not an IPv4 or IPv6 address");
    } else if (key == "port") {
      f.port = static_cast<uint16_t>(number_argument(key, value, 65535));
    } else if (key == "proto") {
      f.proto = value == "tcp"    ? 6
                : value == "udp"  ? 17
                : value == "icmp" ? 1
                                  : static_cast<uint8_t>(number_argument(key, value, 255));
    } else if (key == "app") {
      f.app = value;
    } else if (key == "limit") {
      f.limit = static_cast<size_t>(number_argument(key, value, 100000));
    } else {
      throw core::ConfigError("unknown filter '" + key + "' (ip, port, proto, app, limit)");
    }
  }
  return f;
}

ops::ControlReply flows(const ControlTarget& t, const std::vector<std::string>& args) {
  bool complete = false;
  bool truncated = false;
  const std::vector<pipeline::FlowSummary> found =
      t.engine.flows(flow_filter(args), std::chrono::seconds(2), complete, truncated);
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("count");
  w.Uint64(found.size());
  w.Key("complete");  // every worker answered
  w.Bool(complete);
  w.Key("truncated");  // some worker had more than `limit`
  w.Bool(truncated);
  w.Key("flows");
  w.StartArray();
  for (const pipeline::FlowSummary& f : found) {
    w.StartObject();
    w.Key("flow_id");
    w.Uint64(f.flow_id);
    w.Key("worker");
    w.Uint(f.worker);
    string_field(w, "proto", events::proto_name(f.proto));
    string_field(w, "src_ip", f.src_ip.to_string());
    w.Key("src_port");
    w.Uint(f.src_port);
    string_field(w, "dest_ip", f.dest_ip.to_string());
    w.Key("dest_port");
    w.Uint(f.dest_port);
    string_field(w, "app_proto", f.app_proto);
    string_field(w, "state", f.state);
    w.Key("pkts_toserver");
    w.Uint64(f.pkts_toserver);
    w.Key("pkts_toclient");
    w.Uint64(f.pkts_toclient);
    w.Key("bytes_toserver");
    w.Uint64(f.bytes_toserver);
    w.Key("bytes_toclient");
    w.Uint64(f.bytes_toclient);
    string_field(w, "start", output::eve_timestamp(f.start));
    string_field(w, "last_seen", output::eve_timestamp(f.last_seen));
    w.Key("rule_generation");
    w.Uint(f.rule_generation);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {true, buffer.GetString()};
}

ops::ControlReply text(const std::string& message) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  return {true, buffer.GetString()};
}

constexpr const char* kHelp =
    "version | stats | reload | flows [ip ADDR] [port N] [proto tcp|udp|icmp|N] [app NAME] "
    "[limit N] | shutdown | help";

}  // namespace

ops::ControlReply handle_control(const ControlTarget& target, const std::string& command,
                                 const std::vector<std::string>& args) {
  const auto no_arguments = [&] {
    if (!args.empty()) throw core::ConfigError("takes no arguments");
  };
  if (command == "version") {
    no_arguments();
    return text(SPANGUARD_VERSION);
  }
  if (command == "stats") {
    no_arguments();
    return stats(target);
  }
  if (command == "flows") return flows(target, args);
  if (command == "reload") {
    no_arguments();
    if (!target.reload) return ops::control_error("no rules to reload (none configured)");
    const auto [ok, message] = target.reload();
    return ok ? text(message) : ops::control_error(message);
  }
  if (command == "shutdown") {
    no_arguments();
    core::logger("ops")->info("shutdown asked on the control socket");
    target.stop();
    return text("stopping");
  }
  if (command == "help") return text(kHelp);
  return ops::control_error("unknown command '" + command + "' (" + kHelp + ")");
}

int cmd_ctl(const std::string& socket, int timeout_ms, const std::vector<std::string>& words) {
  if (words.empty()) throw core::ConfigError(std::string("ctl: give a command: ") + kHelp);
  const std::vector<std::string> args(words.begin() + 1, words.end());
  const std::string reply = ops::control_request(socket, words.front(), args, timeout_ms);
  rapidjson::Document doc;
  doc.Parse(reply.c_str());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("return") ||
      !doc.HasMember("message")) {
    throw core::RuntimeError(socket + ": not a control reply: " + reply);
  }
  const bool ok = doc["return"].IsString() && std::string(doc["return"].GetString()) == "OK";
  const rapidjson::Value& message = doc["message"];
  std::string out;
  if (message.IsString()) {
    out = message.GetString();
  } else {
    rapidjson::StringBuffer buffer;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
    writer.SetIndent(' ', 2);
    message.Accept(writer);
    out = buffer.GetString();
  }
  std::fputs((out + "\n").c_str(), ok ? stdout : stderr);
  return ok ? 0 : 1;
}

}  // namespace spanguard::cli
