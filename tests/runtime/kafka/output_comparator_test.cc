#include "runtime/kafka/output_comparator.h"

#include <gtest/gtest.h>

namespace kappa::kafka {
namespace {

TEST(ValuesEqual, WholeValueIgnoresMemberOrder) {
  ComparePolicy p;
  EXPECT_TRUE(valuesEqual(R"({"a":1,"b":"x"})", R"({"b":"x","a":1})", p));
  EXPECT_FALSE(valuesEqual(R"({"a":1,"b":"x"})", R"({"a":1,"b":"y"})", p));
  EXPECT_FALSE(valuesEqual(R"({"a":1})", R"({"a":1,"b":2})", p));
  EXPECT_TRUE(valuesEqual("not json", "not json", p));
  EXPECT_FALSE(valuesEqual("not json", "not JSON", p));
}

TEST(ValuesEqual, CompareAndIgnoreFields) {
  ComparePolicy only;
  only.compareFields = {"views"};
  EXPECT_TRUE(valuesEqual(R"({"views":3,"revenue":1})", R"({"views":3,"revenue":9})", only));
  EXPECT_FALSE(valuesEqual(R"({"views":3})", R"({"views":4})", only));
  ComparePolicy ignore;
  ignore.ignoreFields = {"revenue"};
  EXPECT_TRUE(valuesEqual(R"({"views":3,"revenue":1})", R"({"views":3,"revenue":9})", ignore));
  EXPECT_FALSE(valuesEqual(R"({"views":3,"revenue":1})", R"({"views":2,"revenue":1})", ignore));
  // A field missing on one side is a difference; missing on both is not.
  EXPECT_FALSE(valuesEqual(R"({"views":3})", R"({})", only));
  EXPECT_TRUE(valuesEqual(R"({"other":3})", R"({})", only));
}

TEST(ValuesEqual, RelativeNumericTolerance) {
  ComparePolicy p;
  p.numericTolerance = 0.01;
  EXPECT_TRUE(valuesEqual(R"({"s":100.0})", R"({"s":100.9})", p));
  EXPECT_FALSE(valuesEqual(R"({"s":100.0})", R"({"s":101.5})", p));
  EXPECT_TRUE(valuesEqual(R"({"s":0})", R"({"s":0.0})", p));
  EXPECT_FALSE(valuesEqual(R"({"s":"100"})", R"({"s":100})", p));
}

TEST(CompareSnapshots, CountsRatioAndExamples) {
  std::vector<std::string> sample = {"a", "b", "c", "d", "e", "f", "g", "h", "z"};
  std::map<std::string, std::optional<std::string>> s = {
      {"a", R"({"n":1})"}, {"b", R"({"n":2})"}, {"c", R"({"n":3})"}, {"d", R"({"n":4})"},
      {"e", R"({"n":5})"}, {"f", R"({"n":6})"}, {"g", R"({"n":7})"}, {"h", std::nullopt}};
  std::map<std::string, std::optional<std::string>> c = {
      {"a", R"({"n":1})"},  {"b", R"({"n":20})"}, {"c", R"({"n":30})"}, {"d", R"({"n":40})"},
      {"e", R"({"n":50})"}, {"f", R"({"n":60})"}, {"h", R"({"n":8})"}};
  ComparePolicy p;
  p.maxMismatchRatio = 0.5;
  auto r = compareSnapshots(sample, s, c, p);
  EXPECT_EQ(r.sampledKeys, 9);
  EXPECT_EQ(r.comparedKeys, 8);  // z is in neither
  EXPECT_EQ(r.mismatchedKeys, 7);
  EXPECT_DOUBLE_EQ(r.mismatchRatio, 7.0 / 8);
  EXPECT_FALSE(r.withinPolicy);
  ASSERT_EQ(r.examples.size(), 5u);
  EXPECT_EQ(r.examples[0], (MismatchExample{"b", R"({"n":2})", R"({"n":20})"}));
  EXPECT_EQ(r.mismatched.count("g"), 1u);  // present only in serving
  EXPECT_EQ(r.mismatched.count("h"), 1u);  // deleted in serving, present in candidate
  EXPECT_EQ(r.mismatched.count("a"), 0u);
}

TEST(CompareSnapshots, EqualOutputsAreWithinAZeroPolicy) {
  std::map<std::string, std::optional<std::string>> s = {{"a", "1"}, {"b", "2"}};
  auto r = compareSnapshots({"a", "b"}, s, s, ComparePolicy{});
  EXPECT_EQ(r.mismatchedKeys, 0);
  EXPECT_TRUE(r.withinPolicy);
}

TEST(FieldDiff, OnlyTheFieldsThatDiffer) {
  EXPECT_EQ(fieldDiff(R"({"views":3,"revenue":466.6})", R"({"revenue":3278.13,"views":3})"),
            "revenue: 466.6 -> 3278.13");
  EXPECT_EQ(fieldDiff(R"({"a":1,"b":"x"})", R"({"a":2,"c":true})"),
            R"(a: 1 -> 2, b: "x" -> (none), c: (none) -> true)");
}

TEST(FieldDiff, AMissingRecordOrANonObjectIsShownWhole) {
  EXPECT_EQ(fieldDiff(std::nullopt, R"({"a":1})"), R"((none) -> {"a":1})");
  EXPECT_EQ(fieldDiff(R"({"a":1})", std::nullopt), R"({"a":1} -> (none))");
  EXPECT_EQ(fieldDiff("41", "42"), "41 -> 42");
  EXPECT_EQ(fieldDiff("not json", R"({"a":1})"), R"("not json" -> {"a":1})");
}

}  // namespace
}  // namespace kappa::kafka
