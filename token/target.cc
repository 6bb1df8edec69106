#include "token/target.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace token_authority::token {

Target Target::StreamGroup(std::string stream_group_id) {
  return Target(Kind::kStreamGroup, std::move(stream_group_id), {});
}

Target Target::Streams(std::vector<std::string> stream_names) {
  return Target(Kind::kStreams, "", std::move(stream_names));
}

Target Target::Organization() { return Target(Kind::kOrganization, "", {}); }

bool Target::Covers(absl::string_view stream_group_id,
                    absl::string_view stream_name) const {
  switch (kind_) {
    case Kind::kStreamGroup:
      return !stream_group_id.empty() && stream_group_id == group_id_;
    case Kind::kStreams:
      return !stream_name.empty() && std::find(streams_.begin(), streams_.end(),
                                               stream_name) != streams_.end();
    case Kind::kOrganization:
      return true;
  }
  return false;
}

std::string Target::Describe() const {
  switch (kind_) {
    case Kind::kStreamGroup:
      return absl::StrCat("stream group \"", absl::CEscape(group_id_), "\"");
    case Kind::kStreams:
      return absl::StrCat(streams_.size() == 1 ? "stream " : "streams ",
                          absl::StrJoin(streams_, ", "));
    case Kind::kOrganization:
      return "the whole organisation";
  }
  return "nothing";
}

absl::string_view TargetKindName(Target::Kind kind) {
  switch (kind) {
    case Target::Kind::kStreamGroup:
      return "stream_group";
    case Target::Kind::kStreams:
      return "streams";
    case Target::Kind::kOrganization:
      return "organization";
  }
  return "unknown";
}

std::vector<FieldViolation> ValidateTarget(const Target& target) {
  std::vector<FieldViolation> v;
  switch (target.kind()) {
    case Target::Kind::kStreamGroup: {
      absl::Status st = ValidateStreamGroupId(target.stream_group_id());
      if (!st.ok()) v.push_back({"target", std::string(st.message())});
      break;
    }
    case Target::Kind::kStreams: {
      const auto& names = target.stream_names();
      if (names.empty()) {
        v.push_back({"stream_names", "at least one stream name is required"});
      } else if (names.size() > kMaxStreamNames) {
        v.push_back({"stream_names",
                     absl::StrCat("at most ", kMaxStreamNames,
                                  " stream names (got ", names.size(), ")")});
      }
      for (size_t i = 0; i < names.size(); ++i) {
        absl::Status st = ValidateStreamName(names[i]);
        if (!st.ok()) {
          v.push_back({"stream_names",
                       absl::StrCat("name ", i + 1, " (\"",
                                    absl::CEscape(names[i].substr(0, 140)),
                                    "\"): ", st.message())});
        }
      }
      break;
    }
    case Target::Kind::kOrganization:
      break;
  }
  return v;
}

}  // namespace token_authority::token
