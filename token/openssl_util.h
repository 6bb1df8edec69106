// RAII owners for OpenSSL handles and the conversion of OpenSSL's error queue
// into absl::Status. Internal to the token core.
#ifndef TOKEN_OPENSSL_UTIL_H_
#define TOKEN_OPENSSL_UTIL_H_

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace token_authority::token::internal {

template <typename T, void (*F)(T*)>
struct OsslDeleter {
  void operator()(T* p) const { F(p); }
};
template <typename T, void (*F)(T*)>
using OsslPtr = std::unique_ptr<T, OsslDeleter<T, F>>;

using EvpPkeyPtr = OsslPtr<EVP_PKEY, EVP_PKEY_free>;
using EvpPkeyCtxPtr = OsslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using EvpMdCtxPtr = OsslPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using BioPtr = OsslPtr<BIO, BIO_free_all>;
using BignumPtr = OsslPtr<BIGNUM, BN_free>;
using EcdsaSigPtr = OsslPtr<ECDSA_SIG, ECDSA_SIG_free>;
using ParamBldPtr = OsslPtr<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamPtr = OsslPtr<OSSL_PARAM, OSSL_PARAM_free>;

// InternalError "<what>: <OpenSSL's queued errors>"; clears the queue.
absl::Status OpenSslError(absl::string_view what);
// As OpenSslError but InvalidArgumentError (for bad input material).
absl::Status OpenSslInputError(absl::string_view what);
// Empties this thread's OpenSSL error queue.
void ClearOpenSslErrors();

// SHA-256, fetched once per process and never freed.
const EVP_MD* Sha256();

// A BIO reading `data` (which must outlive it).
BioPtr MemBio(absl::string_view data);
// The contents written to a memory BIO.
std::string BioContents(BIO* bio);

}  // namespace token_authority::token::internal

#endif  // TOKEN_OPENSSL_UTIL_H_
