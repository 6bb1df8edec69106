// Certificates made in the test with OpenSSL's EVP/X509 APIs: a CA and leaf
// certificates (P-256 keys, SHA-256 signatures) for TLS and mTLS tests.
#ifndef TESTS_E2E_TEST_CERTS_H_
#define TESTS_E2E_TEST_CERTS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace token_authority::testing {

struct PemPair {
  std::string cert_pem;
  std::string key_pem;
};

// A certificate authority that can sign leaf certificates. Not thread-safe.
class TestCa {
 public:
  // A new self-signed CA named `common_name`, valid for a day.
  static absl::StatusOr<std::unique_ptr<TestCa>> Create(
      const std::string& common_name);
  ~TestCa();

  const std::string& cert_pem() const { return pem_.cert_pem; }

  // A leaf for "localhost" and 127.0.0.1 (subjectAltName), for server or
  // client authentication, valid from an hour ago for a day.
  absl::StatusOr<PemPair> Issue(const std::string& common_name, bool server);
  // The same, valid from now + `not_before` to now + `not_after` (e.g. an
  // expired one: -2 days to -1 day).
  absl::StatusOr<PemPair> Issue(const std::string& common_name, bool server,
                                absl::Duration not_before,
                                absl::Duration not_after);

 private:
  TestCa() = default;
  struct Handles;
  std::unique_ptr<Handles> handles_;
  PemPair pem_;
  long next_serial_ = 2;
};

}  // namespace token_authority::testing

#endif  // TESTS_E2E_TEST_CERTS_H_
