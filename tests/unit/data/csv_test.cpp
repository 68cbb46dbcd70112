#include <doctest/doctest.h>

#include "libmlops/data/csv.hpp"
#include "tests/support/support.hpp"

using namespace mlops;
using namespace mlops::data;

namespace {
// The message of the error reading `content` as a training CSV with target "y".
std::string error_reading(const std::string& content, ErrorCode expected = ErrorCode::invalid_input) {
  test::TempDir dir;
  const std::string path = dir.write("d.csv", content);
  try {
    read_training_csv(path, "y");
  } catch (const Error& e) {
    CHECK(e.code() == expected);
    CHECK_FALSE(e.hint().empty());
    return e.what();
  }
  FAIL("expected an error for: " << content);
  return {};
}
bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
}  // namespace

TEST_SUITE("unit/data/csv") {
  TEST_CASE("reads features, integer labels sorted numerically, CRLF and quotes") {
    test::TempDir dir;
    const std::string path = dir.write("d.csv", "a,\"b, quoted\",y\r\n1,2,10\r\n3,4.5e1,2\r\n-5,+6,10\r\n\r\n");
    const Dataset ds = read_training_csv(path, "y");
    CHECK(ds.rows() == 3);
    CHECK(ds.feature_names == std::vector<std::string>{"a", "b, quoted"});
    CHECK(ds.classes == std::vector<std::string>{"2", "10"});  // numeric order, not "10" < "2"
    CHECK(ds.integer_classes);
    CHECK(ds.labels == std::vector<int>{1, 0, 1});
    CHECK(ds.values == std::vector<double>{1, 2, 3, 45, -5, 6});
  }
  TEST_CASE("string labels sort as strings and the target may be any column") {
    test::TempDir dir;
    const std::string path = dir.write("d.csv", "y,x\nno,1\nyes,2\nno,3\n");
    const Dataset ds = read_training_csv(path, "y");
    CHECK_FALSE(ds.integer_classes);
    CHECK(ds.classes == std::vector<std::string>{"no", "yes"});
    CHECK(ds.labels == std::vector<int>{0, 1, 0});
    CHECK(ds.values == std::vector<double>{1, 2, 3});
  }
  TEST_CASE("a missing file is not_found") {
    CHECK(test::error_code_of([] { read_training_csv("/nonexistent/d.csv", "y"); }) == ErrorCode::not_found);
  }
  TEST_CASE("every malformed input names the file, line and column") {
    CHECK(contains(error_reading(""), "empty"));
    CHECK(contains(error_reading("a,y\n"), "no data rows"));
    CHECK(contains(error_reading("a,b\n1,2\n"), "no column named 'y'"));
    CHECK(contains(error_reading("a,y\n1,0\nabc,1\n"), ":3: column 'a' (1): 'abc' is not a number"));
    CHECK(contains(error_reading("a,y\n1,0\n,1\n"), ":3: column 'a' (1): empty cell"));
    CHECK(contains(error_reading("a,y\n1,0\nnan,1\n"), "'nan' is not finite"));
    CHECK(contains(error_reading("a,y\n1,0\ninf,1\n"), "'inf' is not finite"));
    CHECK(contains(error_reading("a,b,y\n1,2,0\n1,1\n"), ":3: row has 2 fields, the header has 3"));
    CHECK(contains(error_reading("a,y\n1,0\n2,0\n"), "single class"));
    CHECK(contains(error_reading("a,y\n1,\n"), "empty label"));
  }
  TEST_CASE("feature CSVs match columns by name, else by position") {
    test::TempDir dir;
    FeatureTable by_name = read_feature_csv(dir.write("a.csv", "x2,x1\n1,2\n3,4\n"), {"x1", "x2"});
    CHECK(by_name.rows == 2);
    CHECK(by_name.values == std::vector<double>{2, 1, 4, 3});
    FeatureTable by_position = read_feature_csv(dir.write("b.csv", "p,q\n1,2\n"), {"x1", "x2"});
    CHECK(by_position.values == std::vector<double>{1, 2});
    CHECK(test::error_code_of([&] { read_feature_csv(dir.write("c.csv", "p\n1\n"), {"x1", "x2"}); }) ==
          ErrorCode::invalid_input);
  }
  TEST_CASE("csv_escape quotes only when needed") {
    CHECK(csv_escape("plain") == "plain");
    CHECK(csv_escape("a,b") == "\"a,b\"");
    CHECK(csv_escape("say \"hi\"") == "\"say \"\"hi\"\"\"");
  }
}
