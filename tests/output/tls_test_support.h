// Test support for the alert stream over TLS: a certificate authority made in the test with the
// OpenSSL API (EC P-256 keys, X.509 v3 with subjectAltName), PEM files in a temporary directory,
// and a capture of what the output and collector modules log. Header-only; shared by
// tests/output and tests/collector.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spdlog/sinks/base_sink.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "spanguard/core/log.h"
#include "spanguard/output/tls_credentials.h"

namespace spanguard::testing {

// A CA and the certificates it (or a second, unrelated CA) issues, written as name.crt/name.key.
class TestPki {
 public:
  static constexpr long kDay = 24 * 3600;

  // Creates "ca" and "other-ca" in `dir`.
  explicit TestPki(std::string dir) : dir_(std::move(dir)) {
    ca_ = make("spanguard test CA", "", nullptr, -kDay, 30 * kDay);
    other_ca_ = make("unrelated test CA", "", nullptr, -kDay, 30 * kDay);
    write(ca_, "ca");
    write(other_ca_, "other-ca");
  }

  // Issues `file`.crt/.key for subject CN `cn` with subjectAltName `sans` ("DNS:a,IP:127.0.0.1";
  // empty: none), valid from now + `not_before` to now + `not_after` seconds; overwrites earlier
  // files of that name.
  void issue(const std::string& file, const std::string& cn, const std::string& sans,
             long not_before = -3600, long not_after = kDay, bool by_other_ca = false) {
    write(make(cn, sans, by_other_ca ? &other_ca_ : &ca_, not_before, not_after), file);
  }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  // Settings presenting `file`'s certificate and trusting "ca".
  output::TlsSettings settings(const std::string& file,
                               std::vector<std::string> peer_names = {}) const {
    return {path(file + ".crt"), path(file + ".key"), path("ca.crt"), std::move(peer_names)};
  }

 private:
  struct KeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  };
  struct CertFree {
    void operator()(X509* c) const { X509_free(c); }
  };
  struct Issued {
    std::unique_ptr<EVP_PKEY, KeyFree> key;
    std::unique_ptr<X509, CertFree> cert;
  };

  static void check(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("test PKI: ") + what);
  }

  static void add_extension(X509* cert, X509V3_CTX& ctx, int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    check(ext != nullptr, "extension");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }

  Issued make(const std::string& cn, const std::string& sans, const Issued* issuer, long not_before,
              long not_after) {
    Issued out;
    out.key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    check(out.key != nullptr, "EC P-256 key");
    out.cert.reset(X509_new());
    X509* cert = out.cert.get();
    check(X509_set_version(cert, X509_VERSION_3) == 1, "version");
    ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert), ++serial_);
    X509_gmtime_adj(X509_getm_notBefore(cert), not_before);
    X509_gmtime_adj(X509_getm_notAfter(cert), not_after);
    X509_set_pubkey(cert, out.key.get());
    X509_NAME* subject = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(cert,
                         issuer != nullptr ? X509_get_subject_name(issuer->cert.get()) : subject);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer != nullptr ? issuer->cert.get() : cert, cert, nullptr, nullptr, 0);
    if (issuer == nullptr) {
      add_extension(cert, ctx, NID_basic_constraints, "critical,CA:TRUE");
      add_extension(cert, ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
      add_extension(cert, ctx, NID_basic_constraints, "critical,CA:FALSE");
      add_extension(cert, ctx, NID_key_usage, "critical,digitalSignature");
      add_extension(cert, ctx, NID_ext_key_usage, "serverAuth,clientAuth");
      if (!sans.empty()) add_extension(cert, ctx, NID_subject_alt_name, sans);
    }
    EVP_PKEY* signer = issuer != nullptr ? issuer->key.get() : out.key.get();
    check(X509_sign(cert, signer, EVP_sha256()) > 0, "signature");
    return out;
  }

  void write(const Issued& issued, const std::string& name) const {
    BIO* cert = BIO_new_file(path(name + ".crt").c_str(), "w");
    check(cert != nullptr && PEM_write_bio_X509(cert, issued.cert.get()) == 1, "write cert");
    BIO_free(cert);
    BIO* key = BIO_new_file(path(name + ".key").c_str(), "w");
    check(key != nullptr && PEM_write_bio_PrivateKey(key, issued.key.get(), nullptr, nullptr, 0,
                                                     nullptr, nullptr) == 1,
          "write key");
    BIO_free(key);
  }

  std::string dir_;
  uint64_t serial_ = 1000;
  Issued ca_, other_ca_;
};

// Collects the lines the given modules log while it exists (create it before the threads that
// log, destroy it after them).
class LogCapture {
 public:
  explicit LogCapture(std::vector<std::string> modules = {"output", "collector"})
      : modules_(std::move(modules)), sink_(std::make_shared<Sink>()) {
    for (const auto& m : modules_) core::logger(m)->sinks().push_back(sink_);
  }
  ~LogCapture() {
    for (const auto& m : modules_) {
      auto& sinks = core::logger(m)->sinks();
      sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
    }
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::string text() const { return sink_->text(); }
  bool contains(const std::string& s) const { return text().find(s) != std::string::npos; }
  // Polls until a line contains `s` or `limit` passes.
  bool wait_for(const std::string& s,
                std::chrono::milliseconds limit = std::chrono::seconds(10)) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!contains(s)) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

 private:
  class Sink : public spdlog::sinks::base_sink<std::mutex> {
   public:
    std::string text() {
      std::lock_guard lock(mutex_);
      return text_;
    }

   protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
      text_.append(msg.payload.data(), msg.payload.size());
      text_ += '\n';
    }
    void flush_() override {}

   private:
    std::string text_;
  };

  std::vector<std::string> modules_;
  std::shared_ptr<Sink> sink_;
};

}  // namespace spanguard::testing
