#include "storage/key_encryption_key.h"

#include <sys/stat.h>

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::storage {
namespace {

using ::testing::HasSubstr;
using ::token_authority::testing::StatusIs;

TEST(KeyEncryptionKeyTest, LoadOrCreateCreatesA0600FileOnceAndReloadsIt) {
  testing::TempDir dir;
  const std::string path = dir.File("kek.key");
  FakeRandom random(1);
  ASSERT_OK_AND_ASSIGN(auto created,
                       KeyEncryptionKey::LoadOrCreate(path, random));
  EXPECT_TRUE(created.created());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  ASSERT_OK_AND_ASSIGN(auto again,
                       KeyEncryptionKey::LoadOrCreate(path, random));
  EXPECT_FALSE(again.created());
  EXPECT_EQ(again.Fingerprint(), created.Fingerprint());
  ASSERT_OK_AND_ASSIGN(auto loaded, KeyEncryptionKey::Load(path));
  EXPECT_EQ(loaded.Fingerprint(), created.Fingerprint());
  EXPECT_EQ(created.Fingerprint().size(), 16u);
}

TEST(KeyEncryptionKeyTest, LoadReportsMissingShortAndLongFiles) {
  testing::TempDir dir;
  EXPECT_THAT(KeyEncryptionKey::Load(dir.File("none")),
              StatusIs(absl::StatusCode::kNotFound));
  std::ofstream(dir.File("short")) << "abc";
  EXPECT_THAT(KeyEncryptionKey::Load(dir.File("short")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("holds 3 bytes")));
  std::ofstream(dir.File("long")) << std::string(33, 'x');
  EXPECT_THAT(KeyEncryptionKey::Load(dir.File("long")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("more than 32")));
  FakeRandom random(1);
  // LoadOrCreate never replaces a bad file.
  EXPECT_THAT(KeyEncryptionKey::LoadOrCreate(dir.File("short"), random),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(KeyEncryptionKey::LoadOrCreate(dir.File("no/such/dir"), random),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("cannot create")));
}

TEST(KeyEncryptionKeyTest, SealOpenRoundTripAndAuthenticate) {
  FakeRandom random(3);
  ASSERT_OK_AND_ASSIGN(auto kek,
                       KeyEncryptionKey::FromBytes(std::string(32, 'k')));
  ASSERT_OK_AND_ASSIGN(auto other,
                       KeyEncryptionKey::FromBytes(std::string(32, 'o')));
  const std::string secret = "private key bytes";
  ASSERT_OK_AND_ASSIGN(std::string sealed, kek.Seal(secret, "org/kid", random));
  EXPECT_EQ(sealed.size(), 12 + secret.size() + 16);
  EXPECT_EQ(sealed.find(secret), std::string::npos);
  EXPECT_THAT(kek.Open(sealed, "org/kid"),
              ::token_authority::testing::IsOkAndHolds(secret));
  // Fresh nonce every time.
  ASSERT_OK_AND_ASSIGN(std::string sealed2,
                       kek.Seal(secret, "org/kid", random));
  EXPECT_NE(sealed, sealed2);
  EXPECT_THAT(kek.Open(sealed, "org/other"),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(other.Open(sealed, "org/kid"),
              StatusIs(absl::StatusCode::kDataLoss));
  std::string tampered = sealed;
  tampered[14] ^= 1;
  EXPECT_THAT(kek.Open(tampered, "org/kid"),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(kek.Open("short", "org/kid"),
              StatusIs(absl::StatusCode::kDataLoss));
  ASSERT_OK_AND_ASSIGN(std::string empty, kek.Seal("", "", random));
  EXPECT_THAT(kek.Open(empty, ""),
              ::token_authority::testing::IsOkAndHolds(""));
  EXPECT_THAT(KeyEncryptionKey::FromBytes("x"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace token_authority::storage
