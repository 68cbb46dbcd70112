#include <doctest/doctest.h>

#include "libmlops/serving/request.hpp"

using namespace mlops::serving;
using nlohmann::json;

namespace {
const std::vector<std::string> kFeatures = {"a", "b", "c"};

// The status and message of the RequestError that parsing `body` throws.
std::pair<int, std::string> rejection(Rows (*parse)(const json&, const std::vector<std::string>&, std::size_t),
                                      const std::string& body, std::size_t max_batch = 10) {
  try {
    parse(json::parse(body), kFeatures, max_batch);
  } catch (const RequestError& e) {
    return {e.status(), e.what()};
  }
  FAIL("expected a RequestError for " << body);
  return {};
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST_SUITE("unit/serving/request") {
  TEST_CASE("predict bodies: array, object by name, batch") {
    Rows r = parse_predict(json::parse(R"({"features":[1,2,3]})"), kFeatures, 10);
    CHECK(r.rows == 1);
    CHECK_FALSE(r.batch);
    CHECK(r.values == std::vector<double>{1, 2, 3});
    r = parse_predict(json::parse(R"({"features":{"c":3,"a":1,"b":2}})"), kFeatures, 10);
    CHECK(r.values == std::vector<double>{1, 2, 3});
    r = parse_predict(json::parse(R"({"instances":[[1,2,3],{"a":4,"b":5,"c":6}]})"), kFeatures, 10);
    CHECK(r.batch);
    CHECK(r.rows == 2);
    CHECK(r.values == std::vector<double>{1, 2, 3, 4, 5, 6});
  }
  TEST_CASE("predict errors name the offending index or name") {
    CHECK(rejection(parse_predict, R"({"features":[1,2]})").second == "features has 2 values; the model expects 3 (a, b, c)");
    CHECK(contains(rejection(parse_predict, R"({"features":[1,null,3]})").second, "features[1] must be a number, got null"));
    CHECK(contains(rejection(parse_predict, R"({"features":{"a":1,"b":2,"x":3}})").second, "unknown features x; missing features c"));
    CHECK(contains(rejection(parse_predict, R"({"instances":[[1,2,3],[1,"2",3]]})").second, "instances[1][1]"));
    CHECK(rejection(parse_predict, R"({"instances":[[1,2,3],[1,2,3]]})", 1).first == 413);
    CHECK(rejection(parse_predict, R"({"instances":[]})").first == 422);
    CHECK(rejection(parse_predict, R"({"rows":[]})").first == 422);
    CHECK(rejection(parse_predict, R"([1,2,3])").first == 422);
  }
  TEST_CASE("every rejection carries a valid example body") {
    try {
      parse_predict(json::parse(R"({"features":[1]})"), kFeatures, 10);
    } catch (const RequestError& e) {
      const json example = e.details()["example"];
      CHECK(parse_predict(example, kFeatures, 10).rows == 1);
    }
  }
  TEST_CASE("MLflow scoring formats") {
    CHECK(parse_invocations(json::parse(R"({"dataframe_split":{"columns":["c","a","b"],"data":[[3,1,2]]}})"), kFeatures, 10).values ==
          std::vector<double>{1, 2, 3});
    CHECK(parse_invocations(json::parse(R"({"dataframe_split":{"data":[[1,2,3]]}})"), kFeatures, 10).rows == 1);
    CHECK(parse_invocations(json::parse(R"({"dataframe_records":[{"a":1,"b":2,"c":3}]})"), kFeatures, 10).rows == 1);
    CHECK(parse_invocations(json::parse(R"({"instances":[[1,2,3]]})"), kFeatures, 10).rows == 1);
    CHECK(parse_invocations(json::parse(R"({"inputs":{"a":[1,4],"b":[2,5],"c":[3,6]}})"), kFeatures, 10).values ==
          std::vector<double>{1, 2, 3, 4, 5, 6});
    CHECK(rejection(parse_invocations, R"({"dataframe_split":{"columns":["a"],"data":[[1,2]]}})").first == 422);
  }
  TEST_CASE("MLflow's one-key rule and text/csv bodies") {
    CHECK(rejection(parse_invocations, R"({"instances":[[1,2,3]],"inputs":[[1,2,3]]})").first == 400);
    CHECK(contains(rejection(parse_invocations, R"({})").second, "exactly one of the input fields"));
    CHECK(contains(rejection(parse_invocations, R"({"params":{"k":1}})").second, "Received dictionary with input fields: []"));
    CHECK(parse_invocations(json::parse(R"({"instances":[[1,2,3]],"params":{"k":1}})"), kFeatures, 10).rows == 1);
    const Rows csv = parse_csv_rows("c,a,b\n3,1,2\r\n6,4,5\n\n", kFeatures, 10);
    CHECK(csv.rows == 2);
    CHECK(csv.values == std::vector<double>{1, 2, 3, 4, 5, 6});
    CHECK(parse_csv_rows("\"a\",b,c\n1,2,3", kFeatures, 10).rows == 1);
    const auto csv_error = [](const std::string& text) {
      try {
        parse_csv_rows(text, kFeatures, 2);
      } catch (const RequestError& e) {
        return std::make_pair(e.status(), std::string(e.what()));
      }
      return std::make_pair(0, std::string());
    };
    CHECK(contains(csv_error("").second, "empty"));
    CHECK(contains(csv_error("a,b\n1,2").second, "missing features c"));
    CHECK(contains(csv_error("a,b,c,d\n1,2,3,4").second, "unknown features d"));
    CHECK(contains(csv_error("a,a,b,c\n1,1,2,3").second, "twice"));
    CHECK(contains(csv_error("a,b,c\n1,x,3").second, "'x' is not a number"));
    CHECK(contains(csv_error("a,b,c\n1,2").second, "line 2 has 2 values"));
    CHECK(contains(csv_error("a,b,c\n1,2,nan").second, "not finite"));
    CHECK(csv_error("a,b,c\n1,2,3\n1,2,3\n1,2,3").first == 413);
    CHECK(csv_error("a,b,c\n1,,3").first == 422);
    CHECK(csv_error(std::string("a,b,c\n\0\xff,2,3", 12)).first == 422);
  }
  TEST_CASE("v2 tensors: flat and nested data, shape and datatype checked") {
    const json flat = json::parse(R"({"inputs":[{"name":"x","shape":[2,3],"datatype":"FP64","data":[1,2,3,4,5,6]}]})");
    CHECK(parse_v2_infer(flat, kFeatures, 10).rows == 2);
    const json nested = json::parse(R"({"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[[1,2,3]]}]})");
    CHECK(parse_v2_infer(nested, kFeatures, 10).values == std::vector<double>{1, 2, 3});
    CHECK(parse_v2_infer(json::parse(R"({"inputs":[{"name":"x","shape":[1,3],"datatype":"INT8","data":[1,2,3]}]})"), kFeatures, 10).values ==
          std::vector<double>{1, 2, 3});
    CHECK(parse_v2_infer(json::parse(R"({"inputs":[{"name":"x","shape":[3],"datatype":"BOOL","data":[true,false,true]}]})"), kFeatures, 10).values ==
          std::vector<double>{1, 0, 1});
    CHECK(contains(rejection(parse_v2_infer, R"({"inputs":[{"name":"x","shape":[1,3],"datatype":"INT8","data":[1,2,300]}]})").second, "[-128, 127]"));
    CHECK(contains(rejection(parse_v2_infer, R"({"inputs":[{"name":"x","shape":[1,3],"datatype":"UINT8","data":[1,-2,3]}]})").second, "[0, 255]"));
    CHECK(contains(rejection(parse_v2_infer, R"({"inputs":[{"name":"x","shape":[1,3],"datatype":"INT64","data":[1,2.5,3]}]})").second, "integer"));
    CHECK(contains(rejection(parse_v2_infer, R"({"inputs":[{"name":"x","shape":[1,3],"datatype":"BOOL","data":[1,0,1]}]})").second, "true or false"));
    CHECK(contains(rejection(parse_v2_infer, R"({"inputs":[{"name":"x","shape":[1,3],"datatype":"BYTES","data":["a","b","c"]}]})").second, "BYTES"));
    CHECK(contains(rejection(parse_v2_infer, R"({"inputs":[{"name":"x","shape":[2,3],"datatype":"FP64","data":[1,2,3]}]})").second, "needs 6"));
    CHECK(rejection(parse_v2_infer, R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[1,2,3,4]}]})").first == 422);
    CHECK(rejection(parse_v2_infer, R"({"inputs":[]})").first == 422);
    // Found by the fuzzer: a datatype that is not a string was a type_error (a 500).
    CHECK(rejection(parse_v2_infer, R"({"inputs":[{"name":"x","shape":[0,3],"datatype":[0,3],"data":[1,2,3]}]})").first == 422);
  }
  TEST_CASE("columns are checked before rows are built: names, lengths, the batch limit") {
    CHECK(contains(rejection(parse_invocations, R"({"inputs":{"a":[0,0],"x":"long text"}})").second, "unknown features x"));
    CHECK(contains(rejection(parse_invocations, R"({"inputs":{"a":[1,2],"b":[1],"c":3}})").second, "different lengths"));
    CHECK(rejection(parse_invocations, R"({"inputs":{"a":[1,2,3],"b":[1,2,3],"c":0}})", 2).first == 413);
    CHECK(parse_invocations(json::parse(R"({"inputs":{"a":[1,4],"b":2,"c":[3,6]}})"), kFeatures, 10).values ==
          std::vector<double>{1, 2, 3, 4, 2, 6});  // a scalar column is every row's value
    CHECK(contains(rejection(parse_invocations, R"({"dataframe_split":{"columns":["a","b","z"],"data":[[1,2,3]]}})").second,
                   "unknown features z"));
  }
}
