#include "libmlops/serving/request.hpp"

#include <fmt/format.h>

#include <cmath>
#include <unordered_map>

#include "libmlops/core/error.hpp"
#include "libmlops/data/csv.hpp"

namespace mlops::serving {
namespace {

using nlohmann::json;

[[noreturn]] void invalid(const std::vector<std::string>& features, const std::string& message,
                          json details = json::object()) {
  details["example"] = example_body(features);
  details["expected_features"] = features;
  throw RequestError(422, "invalid_features", message, std::move(details));
}

double number_at(const json& value, const std::vector<std::string>& features, const std::string& where) {
  if (!value.is_number()) {
    invalid(features, fmt::format("{} must be a number, got {}", where, value.is_null() ? "null" : value.type_name()),
            {{"field", where}});
  }
  const double v = value.get<double>();
  if (!std::isfinite(v)) invalid(features, fmt::format("{} is not a finite number", where), {{"field", where}});
  return v;
}

void check_batch(std::size_t rows, std::size_t max_batch, const std::vector<std::string>& features) {
  if (rows == 0) invalid(features, "the request has no rows");
  if (rows > max_batch) {
    throw RequestError(413, "batch_too_large",
                       fmt::format("{} rows exceed the batch limit of {}; split the request", rows, max_batch),
                       {{"max_batch", max_batch}});
  }
}

// One row given as an array in feature order.
void append_array_row(const json& row, const std::vector<std::string>& features, const std::string& where, Rows& out) {
  if (!row.is_array()) invalid(features, fmt::format("{} must be an array of {} numbers", where, features.size()));
  if (row.size() != features.size()) {
    invalid(features, fmt::format("{} has {} values; the model expects {} ({})", where, row.size(), features.size(),
                                  fmt::join(features, ", ")),
            {{"expected", features.size()}, {"got", row.size()}});
  }
  for (std::size_t j = 0; j < row.size(); ++j) {
    out.values.push_back(number_at(row[j], features, fmt::format("{}[{}]", where, j)));
  }
  ++out.rows;
}

// Checks the names given for a row or a set of columns: every feature, no unknown names.
void check_names(const std::vector<std::string>& given, const std::vector<std::string>& features, const std::string& where) {
  std::vector<std::string> unknown, missing;
  for (const std::string& key : given) {
    if (std::find(features.begin(), features.end(), key) == features.end()) unknown.push_back(key);
  }
  for (const std::string& name : features) {
    if (std::find(given.begin(), given.end(), name) == given.end()) missing.push_back(name);
  }
  if (!unknown.empty() || !missing.empty()) {
    invalid(features,
            fmt::format("{}: {}{}{}", where, unknown.empty() ? "" : fmt::format("unknown features {}", fmt::join(unknown, ", ")),
                        !unknown.empty() && !missing.empty() ? "; " : "",
                        missing.empty() ? "" : fmt::format("missing features {}", fmt::join(missing, ", "))),
            {{"unknown", unknown}, {"missing", missing}});
  }
}

// Columns by name ({"inputs": {"f1": [..], "f2": 3}}): a list holds one value per row, a
// scalar is every row's value. Names, lengths and the batch limit are checked before any
// row is built, so a column cannot be multiplied into memory.
void append_columns(const json& columns, const std::vector<std::string>& features, std::size_t max_batch,
                    const std::string& where, Rows& out) {
  std::vector<std::string> names;
  for (const auto& item : columns.items()) names.push_back(item.key());
  check_names(names, features, where);
  std::size_t n = 0;
  bool lists = false;
  for (const std::string& name : features) {
    const json& column = columns[name];
    if (!column.is_array()) continue;
    if (lists && column.size() != n) invalid(features, fmt::format("{}: the columns have different lengths", where));
    n = column.size();
    lists = true;
  }
  if (!lists) n = 1;
  check_batch(n, max_batch, features);
  out.values.reserve(n * features.size());
  for (std::size_t i = 0; i < n; ++i) {
    for (const std::string& name : features) {
      const json& column = columns[name];
      out.values.push_back(number_at(column.is_array() ? column[i] : column, features,
                                     fmt::format("{}.{}{}", where, name, lists && column.is_array() ? fmt::format("[{}]", i) : "")));
    }
  }
  out.rows = n;
}

// One row given as an object by feature name: every name required, no unknown names.
void append_object_row(const json& row, const std::vector<std::string>& features, const std::string& where, Rows& out) {
  std::vector<std::string> names;
  for (const auto& item : row.items()) names.push_back(item.key());
  check_names(names, features, where);
  for (const std::string& name : features) out.values.push_back(number_at(row[name], features, fmt::format("{}.{}", where, name)));
  ++out.rows;
}

void append_row(const json& row, const std::vector<std::string>& features, const std::string& where, Rows& out) {
  if (row.is_object()) {
    append_object_row(row, features, where, out);
  } else {
    append_array_row(row, features, where, out);
  }
}

void append_rows(const json& rows, const std::vector<std::string>& features, std::size_t max_batch,
                 const std::string& where, Rows& out) {
  if (!rows.is_array()) invalid(features, fmt::format("{} must be a list of rows", where));
  check_batch(rows.size(), max_batch, features);
  out.values.reserve(rows.size() * features.size());
  for (std::size_t i = 0; i < rows.size(); ++i) append_row(rows[i], features, fmt::format("{}[{}]", where, i), out);
}

// An OIP tensor element of `datatype` as a double: integers must be whole and in range,
// BOOL must be true or false.
double tensor_value(const json& value, const std::string& datatype, const std::vector<std::string>& features,
                    const std::string& where) {
  if (datatype == "BOOL") {
    if (!value.is_boolean()) invalid(features, fmt::format("{} must be true or false (datatype BOOL)", where));
    return value.get<bool>() ? 1.0 : 0.0;
  }
  const double v = number_at(value, features, where);
  if (datatype.rfind("FP", 0) == 0) return v;
  const bool is_unsigned = datatype[0] == 'U';
  const int bits = std::stoi(datatype.substr(is_unsigned ? 4 : 3));
  const double low = is_unsigned ? 0.0 : -std::ldexp(1.0, bits - 1);
  const double high = is_unsigned ? std::ldexp(1.0, bits) - 1 : std::ldexp(1.0, bits - 1) - 1;
  if (!value.is_number_integer() || v < low || v > high) {
    invalid(features, fmt::format("{} must be an integer in [{:.0f}, {:.0f}] (datatype {})", where, low, high, datatype));
  }
  return v;
}

bool known_datatype(const std::string& t) {
  static const std::vector<std::string> types = {"BOOL",  "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16",
                                                 "INT32", "INT64", "FP16",   "FP32",   "FP64"};
  return std::find(types.begin(), types.end(), t) != types.end();
}

}  // namespace

json example_body(const std::vector<std::string>& features) {
  json row = json::array();
  for (std::size_t j = 0; j < features.size(); ++j) row.push_back(1.0 + static_cast<double>(j % 9));
  return {{"features", row}};
}

Rows parse_predict(const json& body, const std::vector<std::string>& features, std::size_t max_batch) {
  Rows out;
  if (!body.is_object()) invalid(features, "the body must be a JSON object with \"features\" or \"instances\"");
  if (body.contains("instances")) {
    out.batch = true;
    append_rows(body["instances"], features, max_batch, "instances", out);
  } else if (body.contains("features")) {
    append_row(body["features"], features, "features", out);
  } else {
    invalid(features, "the body needs \"features\" (one row) or \"instances\" (a list of rows)");
  }
  return out;
}

Rows parse_invocations(const json& body, const std::vector<std::string>& features, std::size_t max_batch) {
  Rows out;
  out.batch = true;
  if (!body.is_object()) invalid(features, "the body must be a JSON object (MLflow's scoring protocol)");
  std::vector<std::string> given;
  for (const char* key : {"dataframe_records", "dataframe_split", "inputs", "instances"}) {
    if (body.contains(key)) given.push_back(key);
  }
  if (given.size() != 1) {
    throw RequestError(400, "invalid_input_fields",
                       fmt::format("The input must be a JSON dictionary with exactly one of the input fields "
                                   "{{'dataframe_records', 'dataframe_split', 'inputs', 'instances'}}. Received "
                                   "dictionary with input fields: [{}]",
                                   fmt::join(given, ", ")),
                       {{"example", {{"dataframe_split", {{"columns", features}, {"data", {example_body(features)["features"]}}}}}}});
  }
  if (body.contains("dataframe_split")) {
    const json& split = body["dataframe_split"];
    if (!split.is_object() || !split.contains("data")) invalid(features, "dataframe_split needs \"data\" (and \"columns\")");
    const json& data = split["data"];
    if (!split.contains("columns")) {
      append_rows(data, features, max_batch, "dataframe_split.data", out);
      return out;
    }
    const json& columns = split["columns"];
    if (!columns.is_array() || !data.is_array()) invalid(features, "dataframe_split.columns and .data must be lists");
    std::vector<std::string> names;
    for (const json& c : columns) {
      if (!c.is_string()) invalid(features, "dataframe_split.columns must be strings");
      names.push_back(c.get<std::string>());
    }
    check_names(names, features, "dataframe_split.columns");
    check_batch(data.size(), max_batch, features);
    std::vector<std::size_t> slot(names.size());  // column c holds feature slot[c]
    for (std::size_t c = 0; c < names.size(); ++c) {
      slot[c] = static_cast<std::size_t>(std::find(features.begin(), features.end(), names[c]) - features.begin());
    }
    out.values.resize(data.size() * features.size());
    for (std::size_t i = 0; i < data.size(); ++i) {
      const std::string where = fmt::format("dataframe_split.data[{}]", i);
      if (!data[i].is_array() || data[i].size() != columns.size()) {
        invalid(features, fmt::format("{} must have one value per column ({})", where, columns.size()));
      }
      for (std::size_t c = 0; c < names.size(); ++c) {
        out.values[i * features.size() + slot[c]] = number_at(data[i][c], features, fmt::format("{}.{}", where, names[c]));
      }
    }
    out.rows = data.size();
    return out;
  }
  for (const char* key : {"dataframe_records", "instances", "inputs"}) {  // exactly one is there (checked above)
    if (!body.contains(key)) continue;
    const json& value = body[key];
    // TF serving's "inputs" are tensors: rows as lists, or columns; records are dataframe_records'.
    if (std::string_view(key) == "inputs" && value.is_array() && !value.empty() && value[0].is_object()) {
      invalid(features, "inputs holds tensors: rows as lists of numbers, or columns {\"name\": [values]}; send a list "
                        "of records as dataframe_records");
    }
    if (value.is_object()) {  // {"inputs": {"feature_1": [..], ...}}: columns
      append_columns(value, features, max_batch, key, out);
    } else {
      append_rows(value, features, max_batch, key, out);
    }
    return out;
  }
  invalid(features, "the body needs one of dataframe_split, dataframe_records, instances or inputs");
}

Rows parse_csv_rows(std::string_view text, const std::vector<std::string>& features, std::size_t max_batch) {
  Rows out;
  out.batch = true;
  std::vector<std::size_t> slot;  // column c holds feature slot[c]
  try {
    data::for_each_csv_text_row(text, [&](const std::vector<std::string_view>& fields, std::size_t line) {
      if (slot.empty()) {
        const std::vector<std::string> names(fields.begin(), fields.end());
        check_names(names, features, "the CSV header");
        if (names.size() != features.size()) invalid(features, "the CSV header names a feature twice");
        for (const std::string& name : names) {
          slot.push_back(static_cast<std::size_t>(std::find(features.begin(), features.end(), name) - features.begin()));
        }
        return;
      }
      if (fields.size() != slot.size()) {
        invalid(features, fmt::format("CSV line {} has {} values; the header has {}", line, fields.size(), slot.size()));
      }
      check_batch(out.rows + 1, max_batch, features);
      out.values.resize(out.values.size() + features.size());
      double* row = &out.values[out.rows * features.size()];
      for (std::size_t c = 0; c < fields.size(); ++c) {
        row[slot[c]] = data::parse_csv_number(fields[c], "the CSV body", line, features[slot[c]], c);
      }
      ++out.rows;
    });
  } catch (const Error& e) {  // a cell that is not a number
    invalid(features, e.what());
  }
  if (slot.empty()) invalid(features, "the CSV body is empty: send a header row of feature names, then rows");
  check_batch(out.rows, max_batch, features);
  return out;
}

Rows parse_v2_infer(const json& body, const std::vector<std::string>& features, std::size_t max_batch) {
  Rows out;
  out.batch = true;
  if (!body.is_object() || !body.contains("inputs") || !body["inputs"].is_array() || body["inputs"].size() != 1) {
    invalid(features, "the body needs \"inputs\": a list with one tensor {name, shape, datatype, data}");
  }
  const json& tensor = body["inputs"][0];
  if (!tensor.is_object()) invalid(features, "inputs[0] must be a tensor object");
  const json& given_type = tensor.contains("datatype") ? tensor["datatype"] : json();
  const std::string datatype = given_type.is_string() ? given_type.get<std::string>() : given_type.dump();
  if (!known_datatype(datatype)) {
    invalid(features, fmt::format("inputs[0].datatype must be a numeric or BOOL tensor type (FP64, FP32, INT64, ...), "
                                  "got '{}'",
                                  datatype));
  }
  const json shape = tensor.value("shape", json::array());
  if (!shape.is_array() || shape.empty() || shape.size() > 2 ||
      !std::all_of(shape.begin(), shape.end(), [](const json& d) { return d.is_number_integer() && d.get<long long>() >= 0; })) {
    invalid(features, "inputs[0].shape must be [rows, features] (or [features] for one row)");
  }
  const std::size_t rows = shape.size() == 2 ? shape[0].get<std::size_t>() : 1;
  const std::size_t cols = shape.back().get<std::size_t>();
  if (cols != features.size()) {
    invalid(features, fmt::format("inputs[0].shape has {} features; the model expects {}", cols, features.size()),
            {{"expected", features.size()}, {"got", cols}});
  }
  check_batch(rows, max_batch, features);
  const json& data = tensor.contains("data") ? tensor["data"] : json();
  if (!data.is_array()) invalid(features, "inputs[0].data must be a list");
  out.values.reserve(rows * cols);
  const bool nested = !data.empty() && data[0].is_array();
  if (nested) {
    if (data.size() != rows) invalid(features, fmt::format("inputs[0].data has {} rows, shape says {}", data.size(), rows));
    for (std::size_t i = 0; i < rows; ++i) {
      const std::string where = fmt::format("inputs[0].data[{}]", i);
      if (!data[i].is_array() || data[i].size() != cols) invalid(features, fmt::format("{} must hold {} values", where, cols));
      for (std::size_t j = 0; j < cols; ++j) out.values.push_back(tensor_value(data[i][j], datatype, features, fmt::format("{}[{}]", where, j)));
      ++out.rows;
    }
    return out;
  }
  if (data.size() != rows * cols) {
    invalid(features, fmt::format("inputs[0].data has {} values, shape {}x{} needs {}", data.size(), rows, cols, rows * cols));
  }
  for (std::size_t i = 0; i < data.size(); ++i) {
    out.values.push_back(tensor_value(data[i], datatype, features, fmt::format("inputs[0].data[{}]", i)));
  }
  out.rows = rows;
  return out;
}

}  // namespace mlops::serving
