// libFuzzer target: request parsing and validation of `mlops serve` must answer any body
// (JSON, and the same bytes as a text/csv body) with rows or a RequestError — never crash,
// hang, or throw anything else.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "libmlops/serving/request.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto body = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  static const std::vector<std::string> features = {"feature_1", "feature_2", "feature_3"};
  for (auto parse : {mlops::serving::parse_predict, mlops::serving::parse_invocations, mlops::serving::parse_v2_infer}) {
    if (body.is_discarded()) break;  // the server answers 400 before parsing
    try {
      const mlops::serving::Rows rows = parse(body, features, 64);
      if (rows.values.size() != rows.rows * features.size()) __builtin_trap();  // rows must be whole
    } catch (const mlops::serving::RequestError& e) {
      if (e.status() != 400 && e.status() != 413 && e.status() != 422) __builtin_trap();
    }
  }
  // The same bytes as a text/csv body of /invocations.
  try {
    const mlops::serving::Rows rows =
        mlops::serving::parse_csv_rows(std::string_view(reinterpret_cast<const char*>(data), size), features, 64);
    if (rows.values.size() != rows.rows * features.size()) __builtin_trap();
  } catch (const mlops::serving::RequestError& e) {
    if (e.status() != 413 && e.status() != 422) __builtin_trap();
  }
  return 0;
}
