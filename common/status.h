// Status helpers shared by every layer. absl::Status / absl::StatusOr cross
// module and RPC boundaries; nothing in Infernum throws.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#define INFERNUM_CONCAT_INNER_(a, b) a##b
#define INFERNUM_CONCAT_(a, b) INFERNUM_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                    \
  do {                                           \
    ::absl::Status _infernum_st = (expr);        \
    if (!_infernum_st.ok()) return _infernum_st; \
  } while (0)

// ASSIGN_OR_RETURN(auto x, MakeX()); assigns the value of a StatusOr or
// returns its error from the enclosing function.
#define ASSIGN_OR_RETURN(lhs, expr)                                           \
  INFERNUM_ASSIGN_OR_RETURN_IMPL_(INFERNUM_CONCAT_(_infernum_sor_, __LINE__), \
                                  lhs, expr)
#define INFERNUM_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return tmp.status();                   \
  lhs = std::move(tmp).value()

namespace infernum {

// Prefixes the message of a non-OK status with `context` ("context: msg"),
// keeping its code. OK passes through unchanged.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

}  // namespace infernum
