#include "storage/kek_binding.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace token_authority::storage {
namespace {

constexpr absl::string_view kKekCheckPlaintext = "token-authority kek check v1";
constexpr absl::string_view kKekCheckAad = "token-authority/kek-check";

}  // namespace

absl::StatusOr<KeyEncryptionKey> ResolveKek(
    const KekRecord& record, const std::optional<KeyEncryptionKey>& given,
    const std::string& path, absl::string_view database, RandomSource& random) {
  const bool bound = record.check.has_value() || record.holds_signing_keys;
  std::optional<KeyEncryptionKey> kek = given;
  if (!kek.has_value()) {
    if (bound) {
      absl::StatusOr<KeyEncryptionKey> loaded = KeyEncryptionKey::Load(path);
      if (absl::IsNotFound(loaded.status())) {
        return absl::FailedPreconditionError(absl::StrCat(
            "key-encryption key file ", path, " is missing, but the database ",
            database, " holds signing keys encrypted with key ",
            record.fingerprint.value_or("(unknown)"),
            ": restore that file; a new key would make them unreadable"));
      }
      TA_RETURN_IF_ERROR(loaded.status());
      kek = *std::move(loaded);
    } else {
      TA_ASSIGN_OR_RETURN(kek, KeyEncryptionKey::LoadOrCreate(path, random));
    }
  }
  if (record.check.has_value()) {
    absl::StatusOr<std::string> plain = kek->Open(*record.check, kKekCheckAad);
    if (!plain.ok() || *plain != kKekCheckPlaintext) {
      return absl::FailedPreconditionError(absl::StrCat(
          "key-encryption key ", kek->Fingerprint(),
          path.empty() ? std::string() : absl::StrCat(" (", path, ")"),
          " is not the key this database's signing keys are encrypted with (",
          record.fingerprint.value_or("unknown"), ")"));
    }
  }
  return *std::move(kek);
}

absl::StatusOr<std::string> SealKekCheck(const KeyEncryptionKey& kek,
                                         RandomSource& random) {
  return kek.Seal(kKekCheckPlaintext, kKekCheckAad, random);
}

std::string SigningKeyAad(absl::string_view org_id, absl::string_view kid) {
  return absl::StrCat("token-authority/signing-key", absl::string_view("\0", 1),
                      org_id, absl::string_view("\0", 1), kid);
}

}  // namespace token_authority::storage
