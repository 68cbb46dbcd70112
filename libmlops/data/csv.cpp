#include "libmlops/data/csv.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <unordered_map>

#include "libmlops/core/error.hpp"

namespace mlops::data {
namespace {

constexpr std::size_t kChunk = 1 << 22;

// Splits one line into fields, honouring double quotes ("" inside quotes is a quote).
void split_fields(std::string_view line, std::vector<std::string_view>& fields,
                  std::vector<std::string>& unquoted) {
  fields.clear();
  unquoted.clear();
  std::size_t i = 0;
  while (true) {
    if (i < line.size() && line[i] == '"') {
      std::string value;
      ++i;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            value += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        value += line[i++];
      }
      unquoted.push_back(std::move(value));
      fields.push_back({});  // patched below: views into `unquoted` stay valid after reserve
      while (i < line.size() && line[i] != ',') ++i;
    } else {
      const std::size_t end = std::min(line.find(',', i), line.size());
      fields.push_back(line.substr(i, end - i));
      i = end;
    }
    if (i >= line.size()) break;
    ++i;  // skip the comma
  }
  if (!unquoted.empty()) {
    std::size_t u = 0;
    for (std::string_view& f : fields) {
      if (f.data() == nullptr) f = unquoted[u++];
    }
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

int open_for_reading(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      throw Error(ErrorCode::not_found, fmt::format("{}: no such file", path),
                  "check the path given to --data");
    }
    throw Error(ErrorCode::io, fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  }
  return fd;
}

struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

void for_each_chunk(const std::string& path, const std::function<void(const char*, std::size_t)>& on_chunk) {
  const int fd = open_for_reading(path);
  FdCloser closer{fd};
  std::vector<char> buffer(kChunk);
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrorCode::io, fmt::format("{}: read failed: {}", path, std::strerror(errno)));
    if (n == 0) return;
    on_chunk(buffer.data(), static_cast<std::size_t>(n));
  }
}

// Streams a file line by line through a fixed buffer; calls on_line(line, line_number).
// Lines are views valid only during the call.
void for_each_line(const std::string& path,
                   const std::function<void(std::string_view, std::size_t)>& on_line) {
  const int fd = open_for_reading(path);
  FdCloser closer{fd};
  std::vector<char> buffer(kChunk);
  std::size_t filled = 0;
  std::size_t line_no = 0;
  bool eof = false;
  while (!eof) {
    if (filled == buffer.size()) buffer.resize(buffer.size() * 2);  // one very long line
    const ssize_t n = ::read(fd, buffer.data() + filled, buffer.size() - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::io, fmt::format("{}: read failed: {}", path, std::strerror(errno)));
    }
    eof = n == 0;
    filled += static_cast<std::size_t>(n);
    std::size_t start = 0;
    while (true) {
      const char* nl = static_cast<const char*>(std::memchr(buffer.data() + start, '\n', filled - start));
      if (!nl) break;
      const std::size_t end = static_cast<std::size_t>(nl - buffer.data());
      on_line(std::string_view(buffer.data() + start, end - start), ++line_no);
      start = end + 1;
    }
    if (eof && start < filled) {
      on_line(std::string_view(buffer.data() + start, filled - start), ++line_no);
      start = filled;
    }
    std::memmove(buffer.data(), buffer.data() + start, filled - start);
    filled -= start;
  }
}

// Counts the lines of a file in one fast pass, so that the matrix is allocated once at its
// exact size: a growing vector would briefly need the old and the new buffer (2-3x the data).
std::size_t count_lines(const std::string& path) {
  std::size_t lines = 0;
  char last = '\n';
  for_each_chunk(path, [&](const char* data, std::size_t size) {
    lines += static_cast<std::size_t>(std::count(data, data + size, '\n'));
    last = data[size - 1];
  });
  return lines + (last != '\n');
}

double parse_number(std::string_view cell, const std::string& path, std::size_t line_no,
                    const std::string& column, std::size_t column_index) {
  cell = trim(cell);
  const auto where = [&] {
    return fmt::format("{}:{}: column '{}' ({})", path, line_no, column, column_index + 1);
  };
  if (cell.empty()) {
    throw Error(ErrorCode::invalid_input, fmt::format("{}: empty cell", where()),
                "fill in or drop rows with missing values before training");
  }
  double value = 0;
  const char* begin = cell.data();
  if (*begin == '+') ++begin;
  const auto [ptr, ec] = std::from_chars(begin, cell.data() + cell.size(), value);
  if (ec != std::errc() || ptr != cell.data() + cell.size()) {
    throw Error(ErrorCode::invalid_input,
                fmt::format("{}: '{}' is not a number", where(), cell),
                "feature columns must be numeric; encode categories as numbers first");
  }
  if (!std::isfinite(value)) {
    throw Error(ErrorCode::invalid_input, fmt::format("{}: '{}' is not finite", where(), cell),
                "remove or impute NaN and infinite values");
  }
  return value;
}

bool parse_integer(std::string_view text, long long& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size() && !text.empty();
}

std::vector<std::string> read_header(std::string_view line, const std::string& path,
                                     std::vector<std::string_view>& fields,
                                     std::vector<std::string>& unquoted) {
  split_fields(line, fields, unquoted);
  std::vector<std::string> header;
  for (std::string_view f : fields) header.emplace_back(trim(f));
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i].empty()) {
      throw Error(ErrorCode::invalid_input,
                  fmt::format("{}:1: column {} has an empty name", path, i + 1),
                  "the first line must be a header naming every column");
    }
  }
  return header;
}

Error ragged(const std::string& path, std::size_t line_no, std::size_t got, std::size_t want) {
  return Error(ErrorCode::invalid_input,
               fmt::format("{}:{}: row has {} fields, the header has {}", path, line_no, got, want),
               "every row needs one value per header column");
}

Error empty_file(const std::string& path) {
  return Error(ErrorCode::invalid_input, fmt::format("{}: the file is empty", path),
               "a CSV needs a header row and at least one data row");
}

}  // namespace

std::vector<Eigen::Index> class_counts(const DataView& view, std::size_t n_classes) {
  std::vector<Eigen::Index> counts(n_classes, 0);
  for (Eigen::Index i = 0; i < view.rows; ++i) ++counts[static_cast<std::size_t>(view.labels[i])];
  return counts;
}

Dataset read_training_csv(const std::string& path, const std::string& target) {
  Dataset ds;
  std::vector<std::string> header;
  std::size_t target_index = 0;
  std::vector<std::string_view> fields;
  std::vector<std::string> unquoted;
  std::unordered_map<std::string, int> label_ids;  // first-seen ids, remapped to sorted below
  std::vector<std::string> seen_labels;
  const std::size_t max_rows = count_lines(path);

  for_each_line(path, [&](std::string_view line, std::size_t line_no) {
    if (trim(line).empty()) return;  // blank lines (e.g. a trailing newline) carry no row
    if (header.empty()) {
      header = read_header(line, path, fields, unquoted);
      const auto it = std::find(header.begin(), header.end(), target);
      if (it == header.end()) {
        throw Error(ErrorCode::invalid_input,
                    fmt::format("{}:1: no column named '{}' (columns: {})", path, target,
                                fmt::join(header, ", ")),
                    "pass the label column's name with --target");
      }
      if (header.size() < 2) {
        throw Error(ErrorCode::invalid_input, fmt::format("{}:1: no feature columns", path),
                    "the CSV needs at least one feature column besides the target");
      }
      target_index = static_cast<std::size_t>(it - header.begin());
      for (std::size_t i = 0; i < header.size(); ++i) {
        if (i != target_index) ds.feature_names.push_back(header[i]);
      }
      ds.values.reserve(max_rows * ds.feature_names.size());
      ds.labels.reserve(max_rows);
      return;
    }
    split_fields(line, fields, unquoted);
    if (fields.size() != header.size()) throw ragged(path, line_no, fields.size(), header.size());
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i == target_index) continue;
      ds.values.push_back(parse_number(fields[i], path, line_no, header[i], i));
    }
    const std::string_view label = trim(fields[target_index]);
    if (label.empty()) {
      throw Error(ErrorCode::invalid_input,
                  fmt::format("{}:{}: column '{}' ({}): empty label", path, line_no, target,
                              target_index + 1),
                  "every row needs a target label");
    }
    auto [it, inserted] = label_ids.try_emplace(std::string(label), static_cast<int>(seen_labels.size()));
    if (inserted) seen_labels.emplace_back(label);
    ds.labels.push_back(it->second);
  });
  if (header.empty()) throw empty_file(path);
  if (ds.labels.empty()) {
    throw Error(ErrorCode::invalid_input, fmt::format("{}: no data rows after the header", path),
                "add at least one row per class");
  }

  // Sort classes as np.unique does: numerically when all labels are integers.
  std::vector<long long> numbers(seen_labels.size());
  ds.integer_classes = std::all_of(seen_labels.begin(), seen_labels.end(), [&](const std::string& s) {
    return parse_integer(s, numbers[static_cast<std::size_t>(&s - seen_labels.data())]);
  });
  std::vector<int> order(seen_labels.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    return ds.integer_classes ? numbers[a] < numbers[b] : seen_labels[a] < seen_labels[b];
  });
  std::vector<int> remap(order.size());
  for (std::size_t rank = 0; rank < order.size(); ++rank) {
    remap[order[rank]] = static_cast<int>(rank);
    ds.classes.push_back(ds.integer_classes ? std::to_string(numbers[order[rank]])
                                            : seen_labels[order[rank]]);
  }
  for (int& label : ds.labels) label = remap[label];
  if (ds.classes.size() < 2) {
    throw Error(ErrorCode::invalid_input,
                fmt::format("{}: column '{}' has a single class ({}); a classifier needs two or more",
                            path, target, ds.classes.front()),
                "check the target column, or add rows of the other class");
  }
  return ds;
}

FeatureTable read_feature_csv(const std::string& path,
                              const std::vector<std::string>& expected_names) {
  FeatureTable table;
  std::vector<std::size_t> column_of;  // feature index -> CSV column
  std::vector<std::string_view> fields;
  std::vector<std::string> unquoted;
  const std::size_t max_rows = count_lines(path);
  for_each_line(path, [&](std::string_view line, std::size_t line_no) {
    if (trim(line).empty()) return;
    if (table.header.empty()) {
      table.header = read_header(line, path, fields, unquoted);
      const bool by_name = std::all_of(expected_names.begin(), expected_names.end(), [&](const std::string& n) {
        return std::find(table.header.begin(), table.header.end(), n) != table.header.end();
      });
      if (by_name) {
        for (const std::string& n : expected_names) {
          column_of.push_back(static_cast<std::size_t>(
              std::find(table.header.begin(), table.header.end(), n) - table.header.begin()));
        }
      } else if (table.header.size() == expected_names.size()) {
        for (std::size_t i = 0; i < expected_names.size(); ++i) column_of.push_back(i);
      } else {
        throw Error(ErrorCode::invalid_input,
                    fmt::format("{}:1: the model expects {} features ({}), the header has {} columns",
                                path, expected_names.size(), fmt::join(expected_names, ", "),
                                table.header.size()),
                    "name the columns as the model's features, or give exactly that many columns");
      }
      table.values.reserve(max_rows * column_of.size());
      return;
    }
    split_fields(line, fields, unquoted);
    if (fields.size() != table.header.size()) {
      throw ragged(path, line_no, fields.size(), table.header.size());
    }
    for (std::size_t c : column_of) {
      table.values.push_back(parse_number(fields[c], path, line_no, table.header[c], c));
    }
    ++table.rows;
  });
  if (table.header.empty()) throw empty_file(path);
  return table;
}

void for_each_csv_row(const std::string& path,
                      const std::function<void(const std::vector<std::string_view>&, std::size_t)>& on_row) {
  std::vector<std::string_view> fields;
  std::vector<std::string> unquoted;
  bool any = false;
  for_each_line(path, [&](std::string_view line, std::size_t line_no) {
    if (trim(line).empty()) return;
    any = true;
    split_fields(line, fields, unquoted);
    for (std::string_view& f : fields) f = trim(f);
    on_row(fields, line_no);
  });
  if (!any) throw empty_file(path);
}

void for_each_csv_text_row(std::string_view text,
                           const std::function<void(const std::vector<std::string_view>&, std::size_t)>& on_row) {
  std::vector<std::string_view> fields;
  std::vector<std::string> unquoted;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const std::size_t end = std::min(text.find('\n'), text.size());
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    ++line_no;
    if (trim(line).empty()) continue;
    split_fields(line, fields, unquoted);
    for (std::string_view& f : fields) f = trim(f);
    on_row(fields, line_no);
  }
}

double parse_csv_number(std::string_view cell, const std::string& path, std::size_t line,
                        const std::string& column, std::size_t column_index) {
  return parse_number(cell, path, line, column, column_index);
}

std::string csv_escape(const std::string& field) {
  if (field.find_first_of(",\"\n\r") == std::string::npos) return field;
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

}  // namespace mlops::data
