// What a token lets its holder play: one stream group, a list of streams or
// the whole organisation. Shared by the claims, the spec validation, the
// server and the storage.
#ifndef TOKEN_TARGET_H_
#define TOKEN_TARGET_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "token/validation.h"

namespace token_authority::token {

// A target value. It does not validate itself (a spec may carry a bad one so
// that every problem can be reported); use ValidateTarget. Immutable after
// construction; thread-compatible.
class Target {
 public:
  enum class Kind {
    kStreamGroup = 1,   // claim "groupid": one stream group id
    kStreams = 2,       // claim "streams": a list of stream names
    kOrganization = 3,  // claim "orgawide": true
  };

  static Target StreamGroup(std::string stream_group_id);
  static Target Streams(std::vector<std::string> stream_names);
  static Target Organization();

  Kind kind() const { return kind_; }
  // Empty unless kind() == kStreamGroup.
  const std::string& stream_group_id() const { return group_id_; }
  // Empty unless kind() == kStreams.
  const std::vector<std::string>& stream_names() const { return streams_; }

  // Whether the target covers a playback of `stream_group_id` /
  // `stream_name` (either may be empty when unknown): kStreamGroup needs the
  // group id to be equal, kStreams needs the stream name to be in the list,
  // kOrganization covers everything (the organisation itself is checked
  // separately). Comparisons are exact (case-sensitive).
  bool Covers(absl::string_view stream_group_id,
              absl::string_view stream_name) const;

  // For people: "stream group abc", "streams a, b", "the whole organisation".
  std::string Describe() const;

  friend bool operator==(const Target& a, const Target& b) {
    return a.kind_ == b.kind_ && a.group_id_ == b.group_id_ &&
           a.streams_ == b.streams_;
  }
  friend bool operator!=(const Target& a, const Target& b) { return !(a == b); }

 private:
  Target(Kind kind, std::string group_id, std::vector<std::string> streams)
      : kind_(kind),
        group_id_(std::move(group_id)),
        streams_(std::move(streams)) {}
  Kind kind_;
  std::string group_id_;
  std::vector<std::string> streams_;
};

// "stream_group", "streams" or "organization".
absl::string_view TargetKindName(Target::Kind kind);

// Every problem with `target`: an empty or bad group id (field "target"),
// 0 or more than 100 stream names or a bad name (field "stream_names", naming
// the index and the name). Duplicate names are allowed (harmless).
std::vector<FieldViolation> ValidateTarget(const Target& target);

}  // namespace token_authority::token

#endif  // TOKEN_TARGET_H_
