#include <doctest/doctest.h>

#include "libmlops/core/fs.hpp"
#include "libmlops/core/sha256.hpp"
#include "libmlops/core/text.hpp"
#include "tests/support/support.hpp"

using namespace mlops;

TEST_SUITE("unit/core/Sha256") {
  TEST_CASE("matches the FIPS 180-4 test vectors") {
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(sha256_hex(std::string(1000000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  }
  TEST_CASE("hashing in pieces equals hashing at once") {
    Sha256 h;
    h.update("ab");
    h.update("c");
    CHECK(h.hex_digest() == sha256_hex("abc"));
  }
}

TEST_SUITE("unit/core/fs") {
  TEST_CASE("write_file_atomic creates parents and replaces content whole") {
    test::TempDir dir;
    const std::string path = dir.file("a/b/c.txt");
    write_file_atomic(path, "first");
    write_file_atomic(path, "second");
    CHECK(read_file(path) == "second");
    CHECK(sha256_file(path) == sha256_hex("second"));
  }
  TEST_CASE("read_file of a missing file is not_found") {
    CHECK(test::error_code_of([] { read_file("/nonexistent/file"); }) == ErrorCode::not_found);
  }
}

TEST_SUITE("unit/core/text") {
  TEST_CASE("split_list trims each item and keeps empty ones for the caller to judge") {
    CHECK(split_list("").empty());
    CHECK(split_list("a") == std::vector<std::string>{"a"});
    CHECK(split_list(" FeatureDrift , PredictionErrorRatioHigh") ==
          std::vector<std::string>{"FeatureDrift", "PredictionErrorRatioHigh"});
    CHECK(split_list("10,,50,") == std::vector<std::string>{"10", "", "50", ""});
    CHECK(split_list("a;b", ';') == std::vector<std::string>{"a", "b"});
  }

  TEST_CASE("parse_duration: units, bare seconds, and what is not a duration") {
    CHECK(parse_duration("200ms").value() == doctest::Approx(0.2));
    CHECK(parse_duration("1.5s").value() == doctest::Approx(1.5));
    CHECK(parse_duration("2m").value() == doctest::Approx(120));
    CHECK(parse_duration("1h").value() == doctest::Approx(3600));
    CHECK(parse_duration("60").value() == doctest::Approx(60));
    for (const char* bad : {"", "-1s", "fast", "5 parsecs", "nan", "1e400s"}) {
      CAPTURE(bad);
      CHECK_FALSE(parse_duration(bad));
    }
  }
}
