#include "tests/e2e/test_certs.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"

namespace token_authority::testing {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct ExtFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Bio = std::unique_ptr<BIO, BioFree>;
using Ext = std::unique_ptr<X509_EXTENSION, ExtFree>;

absl::Status Fail(const char* what) {
  return absl::InternalError(absl::StrCat("OpenSSL: ", what));
}

std::string BioString(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

absl::StatusOr<std::string> KeyPem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || !PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0,
                                        nullptr, nullptr)) {
    return Fail("PEM_write_bio_PrivateKey");
  }
  return BioString(bio.get());
}

absl::StatusOr<std::string> CertPem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || !PEM_write_bio_X509(bio.get(), cert)) {
    return Fail("PEM_write_bio_X509");
  }
  return BioString(bio.get());
}

absl::Status AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Ext ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || !X509_add_ext(cert, ext.get(), -1)) return Fail("X509_add_ext");
  return absl::OkStatus();
}

// How long a certificate is valid, in seconds from now.
struct Validity {
  long not_before = -3600;
  long not_after = 24 * 3600;
};

// A certificate for `key` named `cn`, signed by `issuer_key` (issuer name
// from `issuer`, or self-signed when null).
absl::StatusOr<Cert> MakeCert(EVP_PKEY* key, const std::string& cn, long serial,
                              X509* issuer, EVP_PKEY* issuer_key, bool ca,
                              bool server, Validity validity = {}) {
  Cert cert(X509_new());
  if (!cert) return Fail("X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), validity.not_before);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), validity.not_after);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(
      cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  if (!X509_set_pubkey(cert.get(), key)) return Fail("X509_set_pubkey");
  X509* signer = issuer != nullptr ? issuer : cert.get();
  if (ca) {
    if (auto s = AddExt(cert.get(), signer, NID_basic_constraints,
                        "critical,CA:TRUE");
        !s.ok()) {
      return s;
    }
    if (auto s = AddExt(cert.get(), signer, NID_key_usage,
                        "critical,keyCertSign,cRLSign");
        !s.ok()) {
      return s;
    }
  } else {
    if (auto s = AddExt(cert.get(), signer, NID_basic_constraints,
                        "critical,CA:FALSE");
        !s.ok()) {
      return s;
    }
    if (auto s = AddExt(cert.get(), signer, NID_subject_alt_name,
                        "DNS:localhost,IP:127.0.0.1");
        !s.ok()) {
      return s;
    }
    if (auto s = AddExt(cert.get(), signer, NID_ext_key_usage,
                        server ? "serverAuth" : "clientAuth");
        !s.ok()) {
      return s;
    }
  }
  if (!X509_sign(cert.get(), issuer_key, EVP_sha256())) {
    return Fail("X509_sign");
  }
  return cert;
}

}  // namespace

struct TestCa::Handles {
  Pkey key;
  Cert cert;
};

TestCa::~TestCa() = default;

absl::StatusOr<std::unique_ptr<TestCa>> TestCa::Create(
    const std::string& common_name) {
  std::unique_ptr<TestCa> ca(new TestCa());
  ca->handles_ = std::make_unique<Handles>();
  ca->handles_->key.reset(EVP_EC_gen("P-256"));
  if (!ca->handles_->key) return Fail("EVP_EC_gen");
  auto cert = MakeCert(ca->handles_->key.get(), common_name, 1, nullptr,
                       ca->handles_->key.get(), /*ca=*/true, false);
  if (!cert.ok()) return cert.status();
  ca->handles_->cert = std::move(*cert);
  auto cert_pem = CertPem(ca->handles_->cert.get());
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = KeyPem(ca->handles_->key.get());
  if (!key_pem.ok()) return key_pem.status();
  ca->pem_ = {*cert_pem, *key_pem};
  return ca;
}

absl::StatusOr<PemPair> TestCa::Issue(const std::string& common_name,
                                      bool server) {
  const Validity v;
  return Issue(common_name, server, absl::Seconds(v.not_before),
               absl::Seconds(v.not_after));
}

absl::StatusOr<PemPair> TestCa::Issue(const std::string& common_name,
                                      bool server, absl::Duration not_before,
                                      absl::Duration not_after) {
  Pkey key(EVP_EC_gen("P-256"));
  if (!key) return Fail("EVP_EC_gen");
  const Validity validity{static_cast<long>(absl::ToInt64Seconds(not_before)),
                          static_cast<long>(absl::ToInt64Seconds(not_after))};
  auto cert = MakeCert(key.get(), common_name, next_serial_++,
                       handles_->cert.get(), handles_->key.get(),
                       /*ca=*/false, server, validity);
  if (!cert.ok()) return cert.status();
  auto cert_pem = CertPem(cert->get());
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = KeyPem(key.get());
  if (!key_pem.ok()) return key_pem.status();
  return PemPair{*cert_pem, *key_pem};
}

}  // namespace token_authority::testing
