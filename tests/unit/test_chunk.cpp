#define BOOST_TEST_MODULE chunk
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "nodes/clients/oci/digest.hpp"
#include "nodes/model/chunk.hpp"

namespace {

// A deliberately naive encoder: the reference the fast one must agree with.
std::string naive_base64(const std::string& in) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6)
      out += a[(v >> s) & 63];
  }
  if (in.size() - i == 1) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += a[(v >> 18) & 63];
    out += a[(v >> 12) & 63];
    out += "==";
  } else if (in.size() - i == 2) {
    const unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += a[(v >> 18) & 63];
    out += a[(v >> 12) & 63];
    out += a[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string encode(const std::string& in) {
  std::string out(pp::base64_encoded_length(in.size()), '\0');
  pp::base64_encode(reinterpret_cast<const unsigned char*>(in.data()), in.size(), out.data());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(total_chunks_table) {
  constexpr std::size_t c = 512000;
  struct Case {
    std::uint64_t size;
    std::uint64_t expected;
  };
  const Case cases[] = {{0, 1},
                        {1, 1},
                        {c - 1, 1},
                        {c, 1},
                        {c + 1, 2},
                        {3 * c, 3},
                        {3 * c + 1, 4},
                        {200ull << 20, 410},
                        {1ull << 40, (1ull << 40) / c + 1}};
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT("size " << k.size) {
      BOOST_TEST(pp::total_chunks(k.size, c) == k.expected);
    }
  }
  BOOST_TEST(pp::total_chunks(10, 1) == 10u);
}

BOOST_AUTO_TEST_CASE(chunk_length_table) {
  struct Case {
    std::uint64_t size;
    std::size_t chunk;
    std::uint64_t idx;
    std::size_t expected;
  };
  const Case cases[] = {{0, 10, 0, 0},  {1, 10, 0, 1},   {10, 10, 0, 10}, {11, 10, 0, 10},
                        {11, 10, 1, 1}, {30, 10, 2, 10}, {30, 10, 3, 0},  {25, 10, 2, 5}};
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT("size " << k.size << " chunk " << k.chunk << " idx " << k.idx) {
      BOOST_TEST(pp::chunk_length(k.size, k.chunk, k.idx) == k.expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(base64_rfc4648_vectors) {
  const std::pair<std::string, std::string> cases[] = {{"", ""},
                                                       {"f", "Zg=="},
                                                       {"fo", "Zm8="},
                                                       {"foo", "Zm9v"},
                                                       {"foob", "Zm9vYg=="},
                                                       {"fooba", "Zm9vYmE="},
                                                       {"foobar", "Zm9vYmFy"},
                                                       {std::string("\0\0\0", 3), "AAAA"},
                                                       {"\xff\xff\xff", "////"},
                                                       {"\xfb\xff", "+/8="}};
  for (const auto& [in, out] : cases) {
    BOOST_TEST_CONTEXT("input of " << in.size() << " bytes") {
      BOOST_TEST(encode(in) == out);
    }
  }
}

BOOST_AUTO_TEST_CASE(base64_matches_naive_encoder_on_random_data) {
  std::mt19937_64 rng(42);
  for (std::size_t n = 0; n < 300; ++n) {
    std::string in(n, '\0');
    for (auto& ch : in)
      ch = static_cast<char>(rng());
    BOOST_TEST_CONTEXT("length " << n) {
      BOOST_TEST(encode(in) == naive_base64(in));
    }
  }
}

BOOST_AUTO_TEST_CASE(base64_decode_round_trips_and_is_strict) {
  std::mt19937_64 rng(7);
  for (std::size_t n = 0; n < 100; ++n) {
    std::string in(n, '\0');
    for (auto& ch : in)
      ch = static_cast<char>(rng());
    BOOST_TEST((pp::base64_decode(encode(in)) == std::optional<std::string>(in)));
  }
  for (const char* bad :
       {"A", "AB=", "Zg=", "Zg=a", "Z===", "Zm9v\n", "Zm 9", "Zm9v====", "Z=g=", "Zm9*", "=AAA"}) {
    BOOST_TEST_CONTEXT(bad) {
      BOOST_TEST(!pp::base64_decode(bad).has_value());
    }
  }
}

BOOST_AUTO_TEST_CASE(json_string_escaping) {
  const std::pair<std::string, std::string> cases[] = {
      {"plain", "\"plain\""},
      {"q\"uote", "\"q\\\"uote\""},
      {"back\\slash", "\"back\\\\slash\""},
      {"tab\t", "\"tab\\t\""},
      {std::string("nul\0", 4), "\"nul\\u0000\""},
      {"\x1f", "\"\\u001f\""},
      {"utf8 \xc3\xa9", "\"utf8 \xc3\xa9\""},
  };
  for (const auto& [in, out] : cases) {
    std::string s;
    pp::append_json_string(s, in);
    BOOST_TEST(s == out);
    BOOST_TEST(nlohmann::json::parse(s).get<std::string>() == in);
  }
}

BOOST_AUTO_TEST_CASE(framed_chunk_is_the_proplet_wire_format) {
  const std::string app = "127.0.0.1:5000/hello:v1";
  const std::string digest = "sha256:" + std::string(64, 'a');
  const pp::ChunkFramer framer(app, digest, 7, 3);
  for (const std::string& bytes :
       {std::string(), std::string("abc"), std::string("\0\xff\x10", 3)}) {
    const auto msg = framer.frame(2, bytes);
    const auto j = nlohmann::json::parse(msg);
    BOOST_TEST(j.at("app_name").get<std::string>() == app);
    BOOST_TEST(j.at("chunk_idx").get<std::uint64_t>() == 2u);
    BOOST_TEST(j.at("total_chunks").get<std::uint64_t>() == 3u);
    BOOST_TEST(j.at("digest").get<std::string>() == digest);
    BOOST_TEST(j.at("size").get<std::uint64_t>() == 7u);
    BOOST_TEST(j.at("data").get<std::string>() == naive_base64(bytes));
    BOOST_TEST(msg.find('\n') == std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(framing_escapes_hostile_app_names) {
  const std::string app = "a\"b\\c";
  const pp::ChunkFramer framer(app, "sha256:x", 1, 1);
  const auto j = nlohmann::json::parse(framer.frame(0, "z"));
  BOOST_TEST(j.at("app_name").get<std::string>() == app);
}

BOOST_AUTO_TEST_CASE(sha256_known_vectors_and_incremental_updates) {
  pp::oci::Hasher empty;
  BOOST_TEST(empty.finish_digest() ==
             "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  pp::oci::Hasher abc;
  abc.update("a");
  abc.update("");
  abc.update("bc");
  BOOST_TEST(abc.finish_digest() ==
             "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // A descriptor's digest picks the algorithm (FIPS 180-2 test vector for sha512).
  auto abc512 = pp::oci::Hasher::for_digest("sha512:whatever");
  abc512.update("abc");
  BOOST_TEST(abc512.finish_digest() ==
             "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
             "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}
