#include "storage/column_codes.h"

#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace token_authority::storage::sqlite {
namespace {

using token::Algorithm;
using token::KeyState;
using Kind = token::Target::Kind;

absl::Status Unknown(absl::string_view column, absl::string_view value) {
  return absl::DataLossError(
      absl::StrCat(column, ": unknown stored value ", value));
}

}  // namespace

int64_t TargetKindColumn(Kind kind) {
  switch (kind) {
    case Kind::kStreamGroup:
      return kStoredStreamGroup;
    case Kind::kStreams:
      return kStoredStreams;
    case Kind::kOrganization:
      return kStoredOrganization;
  }
  return 0;
}

int64_t KeyStateColumn(KeyState state) {
  switch (state) {
    case KeyState::kPrimary:
      return kStoredPrimary;
    case KeyState::kActive:
      return kStoredActive;
    case KeyState::kRetired:
      return kStoredRetired;
  }
  return 0;
}

absl::string_view AlgorithmColumn(Algorithm alg) {
  // The JOSE name (RFC 7518), which cannot change: the token core's one
  // mapping serves the file format too.
  return token::AlgorithmName(alg);
}

absl::StatusOr<Kind> TargetKindFromColumn(int64_t value) {
  switch (value) {
    case kStoredStreamGroup:
      return Kind::kStreamGroup;
    case kStoredStreams:
      return Kind::kStreams;
    case kStoredOrganization:
      return Kind::kOrganization;
    default:
      return Unknown("tokens.kind", absl::StrCat(value));
  }
}

absl::StatusOr<KeyState> KeyStateFromColumn(int64_t value) {
  switch (value) {
    case kStoredPrimary:
      return KeyState::kPrimary;
    case kStoredActive:
      return KeyState::kActive;
    case kStoredRetired:
      return KeyState::kRetired;
    default:
      return Unknown("signing_keys.state", absl::StrCat(value));
  }
}

absl::StatusOr<Algorithm> AlgorithmFromColumn(absl::string_view value) {
  if (std::optional<Algorithm> alg = token::AlgorithmFromName(value)) {
    return *alg;
  }
  // At most 32 bytes of it, escaped: the column may hold anything.
  return Unknown("signing_keys.algorithm",
                 absl::StrCat("\"", absl::CHexEscape(value.substr(0, 32)),
                              value.size() > 32 ? "...\"" : "\""));
}

}  // namespace token_authority::storage::sqlite
