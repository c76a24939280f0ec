#pragma once
// Debian's Abseil (20220623) ships no ABSL_RETURN_IF_ERROR / ASSIGN_OR_RETURN; these are the small local
// equivalents used across the project.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define DI_CONCAT_INNER(a, b) a##b
#define DI_CONCAT(a, b) DI_CONCAT_INNER(a, b)

#define DI_RETURN_IF_ERROR(expr)                 \
  do {                                           \
    ::absl::Status di_status_ = (expr);          \
    if (!di_status_.ok()) return di_status_;     \
  } while (0)

#define DI_ASSIGN_OR_RETURN(lhs, expr) \
  DI_ASSIGN_OR_RETURN_IMPL(DI_CONCAT(di_statusor_, __LINE__), lhs, expr)

#define DI_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
