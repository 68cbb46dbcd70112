// serving: parsing and validating prediction requests — /predict, MLflow's /invocations and
// the Open Inference Protocol v2. Pure functions of the JSON body: no I/O, fuzzed.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "libmlops/http/message.hpp"

namespace mlops::serving {

// A client mistake, answered with its status and the error body of DESIGN.md §5.
class RequestError : public http::HttpError {
 public:
  using HttpError::HttpError;
};

// Rows of feature values in the model's feature order, row-major.
struct Rows {
  std::vector<double> values;
  std::size_t rows = 0;
  bool batch = false;  // the client sent a list of rows (answer with a list)
};

// {"features":[...]}, {"features":{"name":value,...}} or {"instances":[[...],...]}.
// Throws RequestError 422 naming the offending index or name (with a valid example body),
// 413 when a batch exceeds max_batch.
Rows parse_predict(const nlohmann::json& body, const std::vector<std::string>& features, std::size_t max_batch);

// MLflow's scoring protocol: exactly one of dataframe_split, dataframe_records, instances or
// inputs (400 naming the keys it got otherwise, as MLflow answers); other keys such as
// params are accepted.
Rows parse_invocations(const nlohmann::json& body, const std::vector<std::string>& features, std::size_t max_batch);

// MLflow's text/csv body: a header row naming every feature (any order), then one row per
// line, numbers only. Throws RequestError 422 naming line and column, 413 past max_batch.
Rows parse_csv_rows(std::string_view text, const std::vector<std::string>& features, std::size_t max_batch);

// Open Inference Protocol v2: one input tensor of shape [rows, features] (or [features]),
// datatype FP16/FP32/FP64, INT8-64, UINT8-64 or BOOL with values that fit it, data row-major,
// flat or nested.
Rows parse_v2_infer(const nlohmann::json& body, const std::vector<std::string>& features, std::size_t max_batch);

// A valid /predict body for these features, for error messages that teach.
nlohmann::json example_body(const std::vector<std::string>& features);

}  // namespace mlops::serving
