#include "token/openssl_util.h"

#include <openssl/err.h>

#include <climits>

#include "absl/strings/str_cat.h"

namespace token_authority::token::internal {
namespace {

std::string DrainErrors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out.append("; ");
    out.append(buf);
  }
  return out.empty() ? "no OpenSSL error queued" : out;
}

}  // namespace

absl::Status OpenSslError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", DrainErrors()));
}

absl::Status OpenSslInputError(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", DrainErrors()));
}

void ClearOpenSslErrors() { ERR_clear_error(); }

const EVP_MD* Sha256() {
  static const EVP_MD* const kMd = [] {
    const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return md != nullptr ? md : EVP_sha256();
  }();
  return kMd;
}

BioPtr MemBio(absl::string_view data) {
  return BioPtr(BIO_new_mem_buf(
      data.data(), static_cast<int>(std::min<size_t>(data.size(), INT_MAX))));
}

std::string BioContents(BIO* bio) {
  char* p = nullptr;
  long n = BIO_get_mem_data(bio, &p);
  if (n <= 0 || p == nullptr) return "";
  return std::string(p, static_cast<size_t>(n));
}

}  // namespace token_authority::token::internal
