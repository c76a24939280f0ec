#include "services/common/ids.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <cstdint>
#include <random>
#include <stdexcept>

namespace dedicated {
namespace {

void RandomBytes(unsigned char* out, int n) {
  if (RAND_bytes(out, n) != 1) throw std::runtime_error("RAND_bytes failed");
}

}  // namespace

constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

std::string NewId(std::string_view prefix) {
  std::array<unsigned char, 17> bytes;
  RandomBytes(bytes.data(), bytes.size());
  std::string id(prefix);
  for (unsigned char b : bytes) id.push_back(kAlphabet[b & 31]);
  return id;
}

std::string NewNonSecretId(std::string_view prefix) {
  thread_local std::mt19937_64 bits([] {
    std::array<unsigned char, 8> seed;
    RandomBytes(seed.data(), seed.size());
    uint64_t s = 0;
    for (unsigned char b : seed) s = s << 8 | b;
    return s;
  }());
  uint64_t hi = bits(), lo = bits();
  std::string id(prefix);
  id.reserve(prefix.size() + 17);
  // 17 characters of 5 bits: 12 from one word, 5 from the other.
  for (int i = 0; i < 12; ++i, hi >>= 5) id.push_back(kAlphabet[hi & 31]);
  for (int i = 0; i < 5; ++i, lo >>= 5) id.push_back(kAlphabet[lo & 31]);
  return id;
}

std::string NewUuid() {
  std::array<unsigned char, 16> b;
  RandomBytes(b.data(), b.size());
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 15]);
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace dedicated
