// core: SHA-256 (FIPS 180-4) for artifact integrity. No dependencies beyond std.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mlops {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t size);
  void update(std::string_view text) { update(text.data(), text.size()); }
  std::string hex_digest();  // finishes the hash; the object must not be updated afterwards

 private:
  void compress(const std::uint8_t* block);
  std::uint32_t state_[8];
  std::uint8_t buffer_[64];
  std::size_t buffered_ = 0;
  std::uint64_t total_bytes_ = 0;
};

std::string sha256_hex(std::string_view bytes);
// Hashes a file's bytes. Throws Error{io} when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace mlops
