// serving: the built-in dashboard page (libmlops/serving/dashboard.html, embedded at build time).
#pragma once
#include <string_view>

namespace mlops::serving::detail {
extern const std::string_view kDashboardHtml;
}  // namespace mlops::serving::detail
