// The event parser's JSON kernels: the portable one in every binary and the Haswell one that
// kappa-worker loads at run time on a CPU with AVX2 (runtime/worker/parser_kernel.h). Both
// must read every event the same way, good or bad.
#include "runtime/worker/parser_kernel.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/worker/event_parser.h"

namespace kappa::worker {
namespace {

const std::vector<std::string> kFields = {"user_id", "price", "qty", "ok", "gone", "meta", "note"};

const std::vector<std::string> kEvents = {
    R"({"user_id":"u1","price":12.5,"qty":3,"ok":true,"gone":null,"meta":{"a":[1,2]},"note":"x"})",
    R"({"qty":-9223372036854775808,"price":1e300,"user_id":"\u00e9\"\\\n","ok":false})",
    R"({"qty":18446744073709551615,"price":-0.0,"note":"a long string that crosses the 32-byte and 64-byte blocks of a SIMD kernel"})",
    R"(  {"user_id" : "spaced" , "extra":[{"deep":{"deeper":[true,false,null]}}], "qty": 7 } )",
    R"({"price":0.1,"price":0.2})",
    R"({"user_id":"u2","qty":})",
    R"({"user_id":"u3")",
    R"([1,2,3])",
    R"("just a string")",
    R"(not json at all)",
    R"({"user_id":"bad \x escape"})",
    "",
};

void expectSame(const FieldValue& a, const FieldValue& b, const std::string& what) {
  EXPECT_EQ(a.kind, b.kind) << what;
  if (a.kind != b.kind) return;
  switch (a.kind) {
    case FieldValue::Kind::kString:
      EXPECT_EQ(a.text, b.text) << what;
      break;
    case FieldValue::Kind::kNumber:
      EXPECT_EQ(a.isInteger, b.isInteger) << what;
      EXPECT_EQ(a.integer, b.integer) << what;
      EXPECT_EQ(a.number, b.number) << what;
      break;
    case FieldValue::Kind::kBool:
      EXPECT_EQ(a.boolean, b.boolean) << what;
      break;
    default:
      break;
  }
}

TEST(ParserKernel, PortableKernelReadsTheFieldsAsked) {
  auto k = makePortableKernel(kFields);
  EXPECT_STRNE(k->name(), "haswell");
  std::vector<FieldValue> v(kFields.size());
  ASSERT_EQ(k->parse(kEvents[0].data(), kEvents[0].size(), v.data()), "");
  EXPECT_EQ(v[0].text, "u1");
  EXPECT_EQ(v[1].number, 12.5);
  EXPECT_TRUE(v[2].isInteger);
  EXPECT_EQ(v[2].integer, 3);
  EXPECT_TRUE(v[3].boolean);
  EXPECT_EQ(v[4].kind, FieldValue::Kind::kNull);
  EXPECT_EQ(v[5].kind, FieldValue::Kind::kOther);
  EXPECT_EQ(k->parse(kEvents[7].data(), kEvents[7].size(), v.data()), "bad JSON: not an object");
  EXPECT_EQ(k->parse("", 0, v.data()), "empty event");
}

TEST(ParserKernel, TheHaswellKernelAgreesWithThePortableOneOnEveryEvent) {
  std::string why;
  auto haswell = makeKernel(kFields, "haswell", &why);
  if (!haswell) {
    // Only a CPU without AVX2 may go without it: with AVX2, the module next to this test
    // (a dependency of the build) must load.
    __builtin_cpu_init();
    ASSERT_FALSE(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2") &&
                 __builtin_cpu_supports("pclmul"))
        << "this CPU has AVX2 but the Haswell kernel did not load: " << why;
    GTEST_SKIP() << "this CPU lacks AVX2: " << why;
  }
  EXPECT_STREQ(haswell->name(), "haswell") << why;
  auto portable = makePortableKernel(kFields);
  std::vector<FieldValue> a(kFields.size()), b(kFields.size());
  for (const auto& e : kEvents) {
    std::string_view ea = portable->parse(e.data(), e.size(), a.data());
    std::string_view eb = haswell->parse(e.data(), e.size(), b.data());
    EXPECT_EQ(ea, eb) << e;
    if (!ea.empty() || !eb.empty()) continue;
    for (size_t i = 0; i < kFields.size(); ++i) expectSame(a[i], b[i], e + " / " + kFields[i]);
  }
}

TEST(ParserKernel, AutoTakesHaswellWhereItCanAndSaysWhy) {
  std::string why;
  auto k = makeKernel(kFields, "auto", &why);
  ASSERT_NE(k, nullptr) << why;
  std::string haswellWhy;
  bool haswellPossible = makeKernel(kFields, "haswell", &haswellWhy) != nullptr;
  EXPECT_EQ(std::string(k->name()) == "haswell", haswellPossible) << why;
  EXPECT_FALSE(why.empty());
}

TEST(ParserKernel, AnUnknownChoiceIsRefusedByName) {
  std::string why;
  EXPECT_EQ(makeKernel(kFields, "avx512", &why), nullptr);
  EXPECT_NE(why.find("avx512"), std::string::npos) << why;
  Program program;
  program.fields = kFields;
  EXPECT_THROW(EventParser(program, "avx512"), std::invalid_argument);
  EventParser portable(program, "portable");
  EXPECT_NE(portable.kernelChoice().find("portable"), std::string::npos);
}

}  // namespace
}  // namespace kappa::worker
