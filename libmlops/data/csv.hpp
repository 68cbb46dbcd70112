// data: CSV with a header row, numeric feature columns and one target column.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "libmlops/data/dataset.hpp"

namespace mlops::data {

// Reads a training CSV: every column but `target` is a numeric feature. Throws
// Error{not_found} for a missing file and Error{invalid_input} naming file, line and column
// for an empty file, a missing target column, a non-numeric, empty or non-finite cell, a
// ragged row, or fewer than two classes. Streams the file: memory is the matrix, not the text.
Dataset read_training_csv(const std::string& path, const std::string& target);

// Reads a CSV of features only (for batch prediction). Columns are matched by name when
// `expected_names` are all present in the header, else taken in order; the column count
// must match. Same errors as above.
struct FeatureTable {
  std::vector<double> values;  // row-major
  std::size_t rows = 0;
  std::vector<std::string> header;
};
FeatureTable read_feature_csv(const std::string& path,
                              const std::vector<std::string>& expected_names);

// Calls on_row for every non-blank line, the header included, with the line's fields
// (quotes removed) and its line number. The views are valid during the call only.
void for_each_csv_row(const std::string& path,
                      const std::function<void(const std::vector<std::string_view>&, std::size_t)>& on_row);

// The same for CSV text in memory (a request body): line numbers count from 1.
void for_each_csv_text_row(std::string_view text,
                           const std::function<void(const std::vector<std::string_view>&, std::size_t)>& on_row);

// Parses a numeric cell; Error{invalid_input} naming file, line and column otherwise.
double parse_csv_number(std::string_view cell, const std::string& path, std::size_t line,
                        const std::string& column, std::size_t column_index);

// Quotes a CSV field when it needs it (comma, quote, newline).
std::string csv_escape(const std::string& field);

}  // namespace mlops::data
