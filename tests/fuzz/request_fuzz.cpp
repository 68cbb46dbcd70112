// libFuzzer target: request parsing and validation of `mlops serve` must answer any body
// with rows or a RequestError — never crash, hang, or throw anything else.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "libmlops/serving/request.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto body = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return 0;  // the server answers 400 before parsing
  static const std::vector<std::string> features = {"feature_1", "feature_2", "feature_3"};
  for (auto parse : {mlops::serving::parse_predict, mlops::serving::parse_invocations, mlops::serving::parse_v2_infer}) {
    try {
      const mlops::serving::Rows rows = parse(body, features, 64);
      if (rows.values.size() != rows.rows * features.size()) __builtin_trap();  // rows must be whole
    } catch (const mlops::serving::RequestError& e) {
      if (e.status() != 413 && e.status() != 422) __builtin_trap();
    }
  }
  return 0;
}
