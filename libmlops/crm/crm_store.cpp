#include "libmlops/crm/crm_store.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "libmlops/core/error.hpp"
#include "libmlops/crm/http_crm_store.hpp"
#include "libmlops/crm/sqlite_crm_store.hpp"

namespace mlops::crm {

void check_customer_id(const std::string& id) {
  const bool ok = !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.';
  });
  if (!ok) {
    throw Error(ErrorCode::invalid_input,
                fmt::format("invalid customer id '{}'", id.size() > 64 ? id.substr(0, 64) + "..." : id),
                "customer ids are 1-64 letters, digits, '_', '-' or '.', e.g. CUST_TEST_007");
  }
}

std::unique_ptr<CrmStore> open_crm(const std::string& url, double timeout_seconds, int concurrency,
                                   const std::string& api_key) {
  if (url.rfind("sqlite:", 0) == 0) return std::make_unique<SqliteCrmStore>(url.substr(7));
  if (url.rfind("http://", 0) == 0) return std::make_unique<HttpCrmStore>(url, timeout_seconds, concurrency, api_key);
  throw Error(ErrorCode::invalid_input, fmt::format("unsupported CRM_URL '{}'", url),
              "use sqlite:crm.db for the embedded CRM or http://HOST:PORT for a CRM service");
}

}  // namespace mlops::crm
