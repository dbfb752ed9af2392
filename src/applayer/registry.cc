// Buffer tables of the application layer. Names, legacy modifiers and pcre flags are Suricata's
// (its keyword documentation, "HTTP Keywords" and "pcre"); `side` says which message fills a
// buffer, as Suricata registers each buffer for one direction or both.
#include "spanguard/applayer/registry.h"

#include "spanguard/applayer/http_buffers.h"

namespace spanguard::applayer {

namespace {

using core::AppProto;
using rules::BufferDef;
using rules::BufferSide;

// Declared so that rules using them load and are reported as waiting, filled by no parser yet.
BufferDef declared(const char* name, const char* alias, AppProto proto) {
  BufferDef d;
  d.name = name;
  d.alias = alias;
  d.proto = proto;
  return d;
}

rules::Registry build() {
  rules::Registry r;
  for (const HttpBufferDef& h : http_buffer_defs()) {
    BufferDef d = h.def;
    d.proto = AppProto::kHttp;
    d.filled = true;
    r.add_buffer(std::move(d));
  }
  r.add_parser(AppProto::kHttp);
  r.add_buffer(declared("tls.sni", "tls_sni", AppProto::kTls));
  r.add_buffer(declared("dns.query", "dns_query", AppProto::kDns));
  return r;
}

}  // namespace

const rules::Registry& rule_registry() {
  static const rules::Registry registry = build();
  return registry;
}

}  // namespace spanguard::applayer
