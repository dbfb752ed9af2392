// Envelope-level helpers of the alert stream and the EVE file: EVE timestamps, the per-run event
// numbering, and the fields every event type carries (host, community_id).
#include "spanguard/output/envelope.h"

#include <ctime>
#include <type_traits>

namespace spanguard::output {

std::string eve_timestamp(core::Timestamp t) {
  // By hand: snprintf and gmtime_r cost more than the rest of a flow record's fields.
  const int64_t ns = core::to_ns(t);
  int64_t seconds = ns / 1'000'000'000, sub = ns % 1'000'000'000;
  if (sub < 0) sub += 1'000'000'000, --seconds;
  int64_t days = seconds / 86400, rem = seconds % 86400;
  if (rem < 0) rem += 86400, --days;
  // Days since 1970-01-01 to a proleptic Gregorian date (eras of 400 years from 0000-03-01).
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  char buf[] = "0000-00-00T00:00:00.000000+0000";
  const auto put = [&buf](size_t at, int64_t v, size_t width) {
    for (size_t i = width; i-- > 0; v /= 10) buf[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, year, 4);
  put(5, month, 2);
  put(8, day, 2);
  put(11, rem / 3600, 2);
  put(14, rem / 60 % 60, 2);
  put(17, rem % 60, 2);
  put(20, sub / 1000, 6);
  return std::string(buf, sizeof buf - 1);
}

namespace {

// Runs `f` on the event the envelope carries — alert, reset report, flow or protocol record, the
// numbered events, which share their common fields (const when the envelope is) — and returns
// true; false for any other body.
template <typename Envelope, typename F>
bool with_event(Envelope& e, F&& f) {
  constexpr bool kConst = std::is_const_v<Envelope>;
  switch (e.body_case()) {
    case v1::Envelope::kAlert:
      if constexpr (kConst)
        f(e.alert());
      else
        f(*e.mutable_alert());
      return true;
    case v1::Envelope::kResetReport:
      if constexpr (kConst)
        f(e.reset_report());
      else
        f(*e.mutable_reset_report());
      return true;
    case v1::Envelope::kFlow:
      if constexpr (kConst)
        f(e.flow());
      else
        f(*e.mutable_flow());
      return true;
    case v1::Envelope::kApp:
      if constexpr (kConst)
        f(e.app());
      else
        f(*e.mutable_app());
      return true;
    default:
      return false;
  }
}

}  // namespace

std::optional<int64_t> eve_timestamp_seconds(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.ffffff]+HHMM
  const auto digits = [&](size_t at, size_t n) -> std::optional<int64_t> {
    if (at + n > text.size()) return std::nullopt;
    int64_t v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  const auto year = digits(0, 4), month = digits(5, 2), day = digits(8, 2), hour = digits(11, 2),
             minute = digits(14, 2), second = digits(17, 2);
  if (!year || !month || !day || !hour || !minute || !second || text[4] != '-' || text[7] != '-' ||
      text[10] != 'T' || text[13] != ':' || text[16] != ':' || *month < 1 || *month > 12 ||
      *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  size_t at = 19;
  if (at < text.size() && text[at] == '.') {
    ++at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
  }
  const auto zone_hours = digits(at + 1, 2), zone_minutes = digits(at + 3, 2);
  if (at + 5 != text.size() || (text[at] != '+' && text[at] != '-') || !zone_hours ||
      !zone_minutes) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = static_cast<int>(*year) - 1900;
  tm.tm_mon = static_cast<int>(*month) - 1;
  tm.tm_mday = static_cast<int>(*day);
  tm.tm_hour = static_cast<int>(*hour);
  tm.tm_min = static_cast<int>(*minute);
  tm.tm_sec = static_cast<int>(*second);
  const int64_t offset = (*zone_hours * 60 + *zone_minutes) * 60 * (text[at] == '-' ? -1 : 1);
  return static_cast<int64_t>(timegm(&tm)) - offset;
}

uint64_t event_seq(const v1::Envelope& e) {
  uint64_t seq = 0;
  with_event(e, [&](const auto& r) { seq = r.seq(); });
  return seq;
}

bool set_event_seq(v1::Envelope& e, uint64_t seq) {
  return with_event(e, [seq](auto& r) { r.set_seq(seq); });
}

const google::protobuf::Message* event_body(const v1::Envelope& e) {
  const google::protobuf::Message* body = nullptr;
  with_event(e, [&](const auto& r) { body = &r; });
  return body;
}

void set_host(v1::Envelope& e, const std::string& host) {
  with_event(e, [&host](auto& r) { r.set_host(host); });
}

void set_community_id(v1::Envelope& e, std::string id) {
  with_event(e, [&id](auto& r) { r.set_community_id(std::move(id)); });
}

}  // namespace spanguard::output
