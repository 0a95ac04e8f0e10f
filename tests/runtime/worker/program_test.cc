#include "runtime/worker/program.h"

#include <gtest/gtest.h>

namespace kappa::worker {
namespace {

const char* kSessionsYaml = R"(
keyField: user_id
timestampField: timestamp_ms
filter:
  - {field: event_type, op: in, values: [view, add_to_cart, purchase]}
  - {field: bot, op: ne, value: true}
window: {type: session, gapSeconds: 1800, allowedLatenessSeconds: 30}
aggregates:
  - {name: views, op: count, where: {field: event_type, equals: view}}
  - {name: revenue, op: sum, field: price}
  - {name: cheapest, op: min, field: price}
  - {name: dearest, op: max, field: price}
)";

const char* kSessionsJson = R"({"keyField":"user_id","timestampField":"timestamp_ms",
 "filter":[{"field":"event_type","op":"in","values":["view","add_to_cart","purchase"]},
           {"field":"bot","op":"ne","value":true}],
 "window":{"type":"session","gapSeconds":1800,"allowedLatenessSeconds":30},
 "aggregates":[{"name":"views","op":"count","where":{"field":"event_type","equals":"view"}},
               {"name":"revenue","op":"sum","field":"price"},
               {"name":"cheapest","op":"min","field":"price"},
               {"name":"dearest","op":"max","field":"price"}]})";

TEST(ParseProgram, SessionsProgram) {
  auto p = parseProgram(kSessionsYaml);
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p->fields,
            (std::vector<std::string>{"user_id", "timestamp_ms", "event_type", "bot", "price"}));
  EXPECT_EQ(p->keyField, 0);
  EXPECT_EQ(p->timestampField, 1);
  ASSERT_EQ(p->filter.size(), 2u);
  EXPECT_EQ(p->filter[0].op, FilterClause::Op::kIn);
  EXPECT_EQ(p->filter[0].values.size(), 3u);
  EXPECT_EQ(p->filter[1].op, FilterClause::Op::kNe);
  EXPECT_EQ(p->filter[1].values[0].kind, Scalar::Kind::kBool);
  EXPECT_EQ(p->window.type, Window::Type::kSession);
  EXPECT_EQ(p->window.gapMs, 1800000);
  EXPECT_EQ(p->window.allowedLatenessMs, 30000);
  ASSERT_EQ(p->aggregates.size(), 4u);
  EXPECT_EQ(p->aggregates[0].where->equals.text, "view");
  EXPECT_EQ(p->aggregates[1].op, Aggregate::Op::kSum);
  EXPECT_EQ(p->aggregates[1].field, 4);
}

TEST(ParseProgram, EmitModes) {
  auto update = parseProgram(
      "keyField: k\ntimestampField: t\nwindow: {type: session, gapSeconds: 60}\n"
      "aggregates: [{name: n, op: count}]");
  ASSERT_TRUE(update.ok()) << update.error();
  EXPECT_EQ(update->window.emit, Window::Emit::kUpdate);  // the default
  EXPECT_FALSE(usesStateChangelog(*update));
  auto close = parseProgram(
      "keyField: k\ntimestampField: t\nwindow: {type: tumbling, sizeSeconds: 60, emit: onClose}\n"
      "aggregates: [{name: n, op: count}]");
  ASSERT_TRUE(close.ok()) << close.error();
  EXPECT_EQ(close->window.emit, Window::Emit::kClose);
  EXPECT_TRUE(usesStateChangelog(*close));
}

TEST(ParseProgram, JsonAndYamlAgree) {
  auto y = parseProgram(kSessionsYaml);
  auto j = parseProgram(kSessionsJson);
  ASSERT_TRUE(y.ok() && j.ok());
  EXPECT_EQ(*y, *j);
}

TEST(ParseProgram, QuotedNumbersStayStrings) {
  auto p = parseProgram(
      "keyField: k\nfilter: [{field: code, op: eq, value: \"42\"}]\n"
      "aggregates: [{name: n, op: count, where: {field: x, equals: 7}}]");
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p->filter[0].values[0].kind, Scalar::Kind::kString);
  EXPECT_EQ(p->aggregates[0].where->equals.kind, Scalar::Kind::kNumber);
  EXPECT_EQ(p->window.type, Window::Type::kNone);
}

struct BadCase {
  const char* name;
  const char* text;
  const char* message;  // must appear in the error
};

class RejectsBadProgram : public ::testing::TestWithParam<BadCase> {};

TEST_P(RejectsBadProgram, NamesTheField) {
  auto p = parseProgram(GetParam().text);
  ASSERT_FALSE(p.ok()) << GetParam().name;
  EXPECT_EQ(p.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(p.error().message.find(GetParam().message), std::string::npos)
      << "got: " << p.error().message;
}

const char* kAgg = "aggregates: [{name: n, op: count}]";

INSTANTIATE_TEST_SUITE_P(
    Catalogue, RejectsBadProgram,
    ::testing::Values(
        BadCase{"missing_key", kAgg, "keyField: required"},
        BadCase{"empty_key", "keyField: ''\naggregates: [{name: n, op: count}]",
                "keyField: must not be empty"},
        BadCase{"unknown_top", "keyField: k\nkeyfield: k\naggregates: [{name: n, op: count}]",
                "keyfield: unknown field"},
        BadCase{"no_aggregates", "keyField: k", "aggregates: required"},
        BadCase{"empty_aggregates", "keyField: k\naggregates: []",
                "aggregates: must be a non-empty"},
        BadCase{"bad_op", "keyField: k\naggregates: [{name: n, op: avg}]",
                "aggregates[0].op: must be one of count, sum, min, max"},
        BadCase{"sum_without_field", "keyField: k\naggregates: [{name: n, op: sum}]",
                "aggregates[0].field: required for op sum"},
        BadCase{"duplicate_name",
                "keyField: k\naggregates: [{name: n, op: count}, {name: n, op: max, field: p}]",
                "aggregates[1].name: duplicate"},
        BadCase{"reserved_name", "keyField: k\naggregates: [{name: key, op: count}]",
                "aggregates[0].name: 'key' is reserved"},
        BadCase{"where_without_equals",
                "keyField: k\naggregates: [{name: n, op: count, where: {field: t}}]",
                "aggregates[0].where.equals: required"},
        BadCase{"filter_bad_op",
                "keyField: k\nfilter: [{field: t, op: gt, value: 1}]\naggregates: [{name: n, op: "
                "count}]",
                "filter[0].op: must be one of eq, ne, in"},
        BadCase{"filter_in_without_values",
                "keyField: k\nfilter: [{field: t, op: in}]\naggregates: [{name: n, op: count}]",
                "filter[0].values: must be a non-empty list"},
        BadCase{"filter_eq_with_values",
                "keyField: k\nfilter: [{field: t, op: eq, values: [1]}]\naggregates: [{name: n, "
                "op: count}]",
                "filter[0].values: not allowed with op eq"},
        BadCase{"filter_missing_field",
                "keyField: k\nfilter: [{op: eq, value: 1}]\naggregates: [{name: n, op: count}]",
                "filter[0].field: required"},
        BadCase{"window_bad_type",
                "keyField: k\ntimestampField: t\nwindow: {type: sliding}\naggregates: [{name: n, "
                "op: count}]",
                "window.type: must be one of none, tumbling, session"},
        BadCase{"emit_unknown",
                "keyField: k\ntimestampField: t\nwindow: {type: tumbling, sizeSeconds: 60, emit: "
                "onWatermark}\naggregates: [{name: n, op: count}]",
                "window.emit: must be one of onUpdate, onClose; got 'onWatermark'"},
        BadCase{"emit_on_close_without_window",
                "keyField: k\ntimestampField: t\nwindow: {type: none, emit: onClose}\naggregates: "
                "[{name: n, op: count}]",
                "window.emit: onClose needs a window to close"},
        BadCase{"session_without_gap",
                "keyField: k\ntimestampField: t\nwindow: {type: session}\naggregates: [{name: n, "
                "op: count}]",
                "window.gapSeconds: required"},
        BadCase{"tumbling_zero_size",
                "keyField: k\ntimestampField: t\nwindow: {type: tumbling, sizeSeconds: "
                "0}\naggregates: [{name: n, op: count}]",
                "window.sizeSeconds: must be greater than 0"},
        BadCase{"negative_lateness",
                "keyField: k\ntimestampField: t\nwindow: {type: tumbling, sizeSeconds: 60, "
                "allowedLatenessSeconds: -1}\naggregates: [{name: n, op: count}]",
                "window.allowedLatenessSeconds: must not be negative"},
        BadCase{"size_not_number",
                "keyField: k\ntimestampField: t\nwindow: {type: tumbling, sizeSeconds: "
                "ten}\naggregates: [{name: n, op: count}]",
                "window.sizeSeconds: must be a number of seconds"},
        BadCase{"window_without_timestamp",
                "keyField: k\nwindow: {type: tumbling, sizeSeconds: 60}\naggregates: [{name: n, "
                "op: count}]",
                "timestampField: required for a tumbling window"},
        BadCase{"gap_on_tumbling",
                "keyField: k\ntimestampField: t\nwindow: {type: tumbling, sizeSeconds: 60, "
                "gapSeconds: 5}\naggregates: [{name: n, op: count}]",
                "window.gapSeconds: not allowed for a tumbling window"},
        BadCase{"select_with_aggregates",
                "keyField: k\nselect: [{field: a}]\naggregates: [{name: n, op: count}]",
                "aggregates: not allowed with select"},
        BadCase{"select_with_window",
                "keyField: k\ntimestampField: t\nwindow: {type: tumbling, sizeSeconds: "
                "60}\nselect: [{field: a}]",
                "window: not allowed with select"},
        BadCase{"select_empty", "keyField: k\nselect: []", "select: must be a non-empty list"},
        BadCase{"select_same_name_twice",
                "keyField: k\nselect: [{field: a, as: x}, {field: b, as: x}]",
                "select[1].as: duplicate output field 'x'"},
        BadCase{"dedup_without_select",
                "keyField: k\ntimestampField: t\ndedup: {field: id, horizonSeconds: "
                "60}\naggregates: [{name: n, op: count}]",
                "dedup: needs select"},
        BadCase{"dedup_without_timestamp",
                "keyField: k\nselect: [{field: id}]\ndedup: {field: id, horizonSeconds: 60}",
                "timestampField: required with dedup"},
        BadCase{"dedup_id_not_selected",
                "keyField: k\ntimestampField: t\nselect: [{field: t}]\ndedup: {field: id, "
                "horizonSeconds: 60}",
                "dedup.field: must be one of the selected fields"},
        BadCase{"dedup_timestamp_not_selected",
                "keyField: k\ntimestampField: t\nselect: [{field: id}]\ndedup: {field: id, "
                "horizonSeconds: 60}",
                "select: must include timestampField with dedup"},
        BadCase{"dedup_without_horizon",
                "keyField: k\ntimestampField: t\nselect: [{field: id}, {field: t}]\ndedup: "
                "{field: id}",
                "dedup.horizonSeconds: required"},
        BadCase{"not_a_mapping", "- a\n- b", "program: must be a mapping"},
        BadCase{"bad_syntax", "keyField: [unclosed", "not valid YAML/JSON (line 1"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ParseProgram, APassThroughProgramWithDedup) {
  auto p = parseProgram(
      "keyField: user\ntimestampField: ts\nselect: [{field: id, as: event_id}, {field: user}, "
      "{field: ts}]\ndedup: {field: id, horizonSeconds: 3600}");
  ASSERT_TRUE(p.ok()) << p.error();
  ASSERT_EQ(p->select.size(), 3u);
  EXPECT_EQ(p->select[0].as, "event_id");
  EXPECT_EQ(p->select[1].as, "user");
  EXPECT_TRUE(p->aggregates.empty());
  ASSERT_TRUE(p->dedup.has_value());
  EXPECT_EQ(p->dedup->horizonMs, 3'600'000);
  EXPECT_EQ(p->dedup->idOutput, "event_id");
  EXPECT_EQ(p->dedup->tsOutput, "ts");
}

TEST(LoadProgramFile, MissingFileNamesThePath) {
  auto p = loadProgramFile("/nonexistent/program.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message.find("/nonexistent/program.yaml"), std::string::npos);
}

}  // namespace
}  // namespace kappa::worker
