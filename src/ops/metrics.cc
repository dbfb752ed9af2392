// The Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): one line per sample, families
// introduced by # HELP and # TYPE, label values escaped, floats as Go's ParseFloat reads them.
#include "spanguard/ops/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>

namespace spanguard::ops {

namespace {

constexpr std::string_view kPrefix = "spanguard_";

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::string counter_name(std::string_view name) {
  std::string out = prometheus_name(name);
  if (!out.ends_with("_total")) out += "_total";
  return out;
}

// Label names follow [a-zA-Z_][a-zA-Z0-9_]*; names starting with "__" are reserved, which a
// configured name cannot reach here since the callers' names are fixed words.
std::string label_name(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 1);
  if (name.empty() || (name.front() >= '0' && name.front() <= '9')) out += '_';
  for (char c : name) out += is_name_char(c) ? c : '_';
  return out;
}

void append_number(double value, std::string& out) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buffer[32];
  // Shortest round trip, in %g style as Go's FormatFloat(v, 'g', -1, 64) writes it: 0.0001, 1e-05.
  const auto [end, ec] =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::general);
  out.append(buffer, ec == std::errc() ? end : buffer);
}

void append_number(uint64_t value, std::string& out) { out += std::to_string(value); }

// HELP text escapes backslash and newline only (quotes stay as they are).
void append_help_text(std::string_view help, std::string& out) {
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

class Writer {
 public:
  // False when a family of this name was already written: two source names that sanitize to the
  // same Prometheus name would otherwise make the whole scrape invalid.
  bool begin_family(const std::string& name, std::string_view help, std::string_view type) {
    if (!families_.insert(name).second) return false;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    append_help_text(help, out_);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
    return true;
  }

  // `extra` is appended after `labels` (the `le` of a bucket) when its name is not empty.
  template <typename Value>
  void sample(std::string_view name, const std::vector<MetricLabel>& labels, Value value,
              const MetricLabel& extra = {}) {
    out_ += name;
    if (!labels.empty() || !extra.first.empty()) {
      out_ += '{';
      bool first = true;
      const auto append = [&](const MetricLabel& label) {
        if (!first) out_ += ',';
        first = false;
        out_ += label_name(label.first);
        out_ += "=\"";
        append_label_value(label.second, out_);
        out_ += '"';
      };
      for (const MetricLabel& label : labels) append(label);
      if (!extra.first.empty()) append(extra);
      out_ += '}';
    }
    out_ += ' ';
    append_number(value, out_);
    out_ += '\n';
  }

  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  std::set<std::string, std::less<>> families_;
};

// Items of one family in order of first appearance: [family name, indices into `items`].
template <typename Item>
std::vector<std::pair<std::string, std::vector<size_t>>> group_by_name(
    const std::vector<Item>& items) {
  std::vector<std::pair<std::string, std::vector<size_t>>> groups;
  std::map<std::string, size_t, std::less<>> position;
  for (size_t i = 0; i < items.size(); ++i) {
    std::string name = prometheus_name(items[i].name);
    const auto [it, inserted] = position.try_emplace(name, groups.size());
    if (inserted) groups.emplace_back(std::move(name), std::vector<size_t>{});
    groups[it->second].second.push_back(i);
  }
  return groups;
}

void write_counters(const MetricsSnapshot& snapshot, Writer& w) {
  std::set<std::string_view> per_worker;
  for (const core::CounterSnapshot& worker : snapshot.workers) {
    for (const auto& entry : worker.entries()) per_worker.insert(entry.name);
  }
  const auto write_per_worker = [&](const std::string& name, std::string_view help) {
    const std::string family = counter_name(name);
    if (!w.begin_family(family, help, "counter")) return;
    for (size_t i = 0; i < snapshot.workers.size(); ++i) {
      w.sample(family, {{"worker", std::to_string(i)}}, snapshot.workers[i].get(name));
    }
  };

  std::set<std::string_view> in_totals;
  for (const auto& entry : snapshot.totals.entries()) {
    in_totals.insert(entry.name);
    if (per_worker.contains(entry.name)) {
      write_per_worker(entry.name, entry.help);
    } else {
      const std::string family = counter_name(entry.name);
      if (w.begin_family(family, entry.help, "counter")) w.sample(family, {}, entry.value);
    }
  }
  // Counters only a worker knows (a provider that leaves them out of the totals).
  for (const core::CounterSnapshot& worker : snapshot.workers) {
    for (const auto& entry : worker.entries()) {
      if (in_totals.insert(entry.name).second) write_per_worker(entry.name, entry.help);
    }
  }
}

void write_sources(const std::vector<SourceMetrics>& sources, Writer& w) {
  if (sources.empty()) return;
  struct Field {
    std::string_view name;
    std::string_view help;
    uint64_t SourceMetrics::*member;
  };
  static constexpr Field kFields[] = {
      {"spanguard_source_frames_total", "Frames the capture source handed to the sensor",
       &SourceMetrics::frames},
      {"spanguard_source_kernel_dropped_total",
       "Frames the kernel dropped because the capture buffer was full (pcap ps_drop)",
       &SourceMetrics::kernel_dropped},
      {"spanguard_source_interface_dropped_total",
       "Frames the interface or its driver dropped (pcap ps_ifdrop)",
       &SourceMetrics::interface_dropped},
  };
  for (const Field& field : kFields) {
    const std::string family(field.name);
    if (!w.begin_family(family, field.help, "counter")) continue;
    for (const SourceMetrics& source : sources) {
      w.sample(family, {{"interface", source.name}}, source.*field.member);
    }
  }
}

void write_gauges(const std::vector<Gauge>& gauges, Writer& w) {
  for (const auto& [family, indices] : group_by_name(gauges)) {
    if (!w.begin_family(family, gauges[indices.front()].help, "gauge")) continue;
    for (size_t i : indices) w.sample(family, gauges[i].labels, gauges[i].value);
  }
}

void write_histograms(const std::vector<Histogram>& histograms, Writer& w) {
  for (const auto& [family, indices] : group_by_name(histograms)) {
    if (!w.begin_family(family, histograms[indices.front()].help, "histogram")) continue;
    const std::string bucket = family + "_bucket";
    for (size_t i : indices) {
      const Histogram& h = histograms[i];
      const size_t n = std::min(h.bounds.size(), h.counts.size());
      for (size_t b = 0; b < n; ++b) {
        std::string le;
        append_number(h.bounds[b], le);
        w.sample(bucket, h.labels, h.counts[b], {"le", le});
      }
      w.sample(bucket, h.labels, h.count, {"le", "+Inf"});
      w.sample(family + "_sum", h.labels, h.sum);
      w.sample(family + "_count", h.labels, h.count);
    }
  }
}

}  // namespace

std::string prometheus_name(std::string_view name) {
  std::string out(kPrefix);
  out.reserve(kPrefix.size() + name.size());
  for (char c : name) out += is_name_char(c) ? c : '_';
  return out;
}

void append_label_value(std::string_view value, std::string& out) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

std::string format_prometheus(const MetricsSnapshot& snapshot) {
  Writer w;
  write_counters(snapshot, w);
  write_sources(snapshot.sources, w);
  write_gauges(snapshot.gauges, w);
  write_histograms(snapshot.histograms, w);
  return w.take();
}

}  // namespace spanguard::ops
