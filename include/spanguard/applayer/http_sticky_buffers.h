// The per-message strings behind the header-based sticky buffers (http.start, http.header,
// http.header_names and the combined value of repeated fields): built by the parser once per
// header block, viewed by fill_buffers().
#pragma once

#include "spanguard/applayer/http.h"

namespace spanguard::applayer::http {

// Rebuilds m.merged, m.start_buf, m.header_buf/header_in_start and m.header_names_buf from
// m.line and m.headers. `side` picks the field http.header leaves out (Cookie / Set-Cookie).
void derive_header_buffers(Message& m, Side side);

}  // namespace spanguard::applayer::http
