// Small status helpers. abseil 20220623 has no public ASSIGN_OR_RETURN, so the
// project carries its own, in the style of tink's and Arrow's.
#ifndef BASE_STATUS_MACROS_H_
#define BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status); returns it from the calling function if
// it is not OK.
#define TA_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status ta_status_ = (expr);      \
    if (!ta_status_.ok()) return ta_status_; \
  } while (0)

#define TA_STATUS_CONCAT_INNER_(a, b) a##b
#define TA_STATUS_CONCAT_(a, b) TA_STATUS_CONCAT_INNER_(a, b)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status from
// the calling function, otherwise moves the value into `lhs`, which may be a
// declaration (`auto x`) or an existing variable.
#define TA_ASSIGN_OR_RETURN(lhs, rexpr)                                     \
  TA_ASSIGN_OR_RETURN_IMPL_(TA_STATUS_CONCAT_(ta_statusor_, __LINE__), lhs, \
                            rexpr)

// `lhs` cannot be parenthesised (it may be a declaration), nor `statusor`
// (a name being declared).
// NOLINTBEGIN(bugprone-macro-parentheses)
#define TA_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr)    \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)
// NOLINTEND(bugprone-macro-parentheses)

#endif  // BASE_STATUS_MACROS_H_
