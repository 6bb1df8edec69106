#include "storage/write_context.h"

#include "absl/strings/str_cat.h"

namespace token_authority::storage::sqlite {

absl::StatusOr<int64_t> LookupOrgNo(Connection& c, absl::string_view id) {
  if (id.empty()) return 0;
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c.Prepare("SELECT no FROM organizations WHERE id = ?1 AND no != 0"));
  s.BindText(1, id);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::NotFoundError(absl::StrCat("organization ", id, " not found"));
  }
  return s.Int64(0);
}

absl::StatusOr<std::optional<int64_t>> LookupApiKeyNo(Connection& c,
                                                      absl::string_view id,
                                                      absl::string_view field) {
  if (id.empty()) return std::optional<int64_t>();
  TA_ASSIGN_OR_RETURN(Statement s,
                      c.Prepare("SELECT no FROM api_keys WHERE id = ?1"));
  s.BindText(1, id);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": unknown API key ", id));
  }
  return std::optional<int64_t>(s.Int64(0));
}

}  // namespace token_authority::storage::sqlite
