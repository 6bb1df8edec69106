#include "token/openssl_util.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::token::internal {
namespace {

using ::testing::HasSubstr;
using ::token_authority::testing::StatusIs;

TEST(OpenSslUtilTest, ErrorQueueBecomesStatusAndIsCleared) {
  // Provoke a real OpenSSL error: an unknown algorithm name.
  EVP_MD* md = EVP_MD_fetch(nullptr, "NO-SUCH-DIGEST", nullptr);
  ASSERT_EQ(md, nullptr);
  ASSERT_NE(ERR_peek_error(), 0u);
  absl::Status st = OpenSslError("fetching");
  EXPECT_THAT(st,
              StatusIs(absl::StatusCode::kInternal, HasSubstr("fetching: ")));
  EXPECT_EQ(ERR_peek_error(), 0u);
  EXPECT_THAT(OpenSslInputError("x"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no OpenSSL error queued")));
}

TEST(OpenSslUtilTest, Sha256IsFetchedOnce) {
  EXPECT_EQ(Sha256(), Sha256());
  EXPECT_EQ(EVP_MD_get_size(Sha256()), 32);
}

TEST(OpenSslUtilTest, MemoryBios) {
  BioPtr in = MemBio("hello");
  char buf[8] = {0};
  EXPECT_EQ(BIO_read(in.get(), buf, sizeof buf), 5);
  EXPECT_STREQ(buf, "hello");
  BioPtr out(BIO_new(BIO_s_mem()));
  BIO_write(out.get(), "abc", 3);
  EXPECT_EQ(BioContents(out.get()), "abc");
}

}  // namespace
}  // namespace token_authority::token::internal
