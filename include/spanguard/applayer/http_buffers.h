// HTTP sticky buffers as rules name them: for each, its rules::BufferDef (names, legacy modifier,
// pcre flag, which message fills it) and the http::Buffers member that holds its bytes.
#pragma once

#include <span>
#include <string_view>

#include "spanguard/applayer/http.h"
#include "spanguard/rules/registry.h"

namespace spanguard::applayer {

struct HttpBufferDef {
  rules::BufferDef def;
  // The member of http::Buffers with the bytes; nullptr for file.data (the body of the message
  // inspected).
  std::string_view http::Buffers::*member = nullptr;
};

std::span<const HttpBufferDef> http_buffer_defs();

}  // namespace spanguard::applayer
