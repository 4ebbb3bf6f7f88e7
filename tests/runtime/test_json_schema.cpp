// runtime/json_schema: defaults, types, ranges, choices, nested objects and
// the did-you-mean of unknown keys and choices.
#include <gtest/gtest.h>

#include "common/testing.h"
#include "runtime/json_read.h"
#include "runtime/json_schema.h"

namespace cudaseg::schema {
namespace {

std::vector<Key> loss_keys() {
  return {{"type", Type::string, "ohem", "pixel loss", {"ce", "ohem"}},
          {"ohem_thresh", Type::number, 0.7, "keep pixels below", {}, 0.0, 1.0},
          {"ohem_min_kept", Type::integer, -1, "minimum kept", {}, -1},
          {"size", Type::size, nullptr, "crop", {}, std::nullopt, std::nullopt, -1, true},
          {"classes", Type::integer, nullptr, "class count", {}, 1, std::nullopt, -1, false, true},
          object_key("jitter", "colour", {{"p", Type::number, 1.0, "probability", {}, 0.0, 1.0}})};
}

::testing::AssertionResult rejects(const Json& given, const std::vector<std::string>& fragments) {
  return testing::throws_mentioning([&] { resolve(loss_keys(), given, "loss"); }, fragments);
}

TEST(JsonSchema, FillsDefaultsAndKeepsGivenValues) {
  const Json r = resolve(loss_keys(), {{"classes", 3}, {"jitter", {{"p", 0.5}}}, {"size", {4, 6}}}, "loss");
  EXPECT_EQ(r, Json({{"type", "ohem"},
                     {"ohem_thresh", 0.7},
                     {"ohem_min_kept", -1},
                     {"size", {4, 6}},
                     {"classes", 3},
                     {"jitter", {{"p", 0.5}}}}));
  EXPECT_EQ(resolve(loss_keys(), r, "loss"), r);
  // An absent nested object gets its defaults; a nullable key stays null.
  const Json d = resolve(loss_keys(), {{"classes", 2}, {"size", nullptr}}, "loss");
  EXPECT_EQ(d["jitter"], Json({{"p", 1.0}}));
  EXPECT_TRUE(d["size"].is_null());
}

TEST(JsonSchema, UnknownKeySuggestsTheNearestOnlyWhenClose) {
  EXPECT_TRUE(rejects({{"classes", 2}, {"ohem_tresh", 0.5}},
                      {"unknown key 'ohem_tresh' in loss (did you mean 'ohem_thresh'?); accepted: type, ohem_thresh"}));
  EXPECT_TRUE(rejects({{"classes", 2}, {"jitter", {{"pp", 1}}}}, {"unknown key 'pp' in loss.jitter; accepted: p"}));
  try {
    resolve(loss_keys(), {{"classes", 2}, {"weights", 1}}, "loss");
    ADD_FAILURE() << "an unknown key was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("did you mean"), std::string::npos) << e.what();
  }
  EXPECT_EQ(nearest("widht", {"width", "act"}), "width");
  EXPECT_EQ(nearest("lrr", {"lr", "momentum"}), "lr");
  EXPECT_EQ(nearest("xy", {"lr", "p"}), "");  // as far as replacing the whole name
  EXPECT_EQ(nearest("rotate", {"scale", "crop", "flip", "jitter"}), "");
  EXPECT_EQ(edit_distance("widht", "width"), 1u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(JsonSchema, WrongTypeRangeChoiceAndMissingKeyNameThePath) {
  EXPECT_TRUE(rejects({{"classes", "two"}}, {"loss.classes: expected a positive integer, got \"two\""}));
  EXPECT_TRUE(rejects({{"classes", 0}}, {"loss.classes: expected a positive integer, got 0"}));
  EXPECT_TRUE(rejects({{"classes", 2}, {"ohem_thresh", 1.5}}, {"loss.ohem_thresh: expected a number in [0, 1], got 1.5"}));
  EXPECT_TRUE(rejects({{"classes", 2}, {"ohem_min_kept", -2}}, {"loss.ohem_min_kept: expected an integer >= -1"}));
  EXPECT_TRUE(rejects({{"classes", 2}, {"type", "ohen"}},
                      {"loss.type: expected one of \"ce\", \"ohem\", got \"ohen\" (did you mean \"ohem\"?)"}));
  try {
    resolve(loss_keys(), {{"classes", 2}, {"type", "focal"}}, "loss");
    ADD_FAILURE() << "an unknown choice was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("did you mean"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(rejects({{"classes", 2}, {"size", {4, 0}}}, {"loss.size: expected null or [height, width]"}));
  EXPECT_TRUE(rejects({{"classes", 2}, {"jitter", {{"p", 2}}}}, {"loss.jitter.p: expected a number in [0, 1], got 2"}));
  EXPECT_TRUE(rejects({{"classes", 2}, {"jitter", 3}}, {"loss.jitter: expected a JSON object, got 3"}));
  EXPECT_TRUE(rejects(Json::object(), {"loss.classes: required"}));
  EXPECT_TRUE(rejects(Json::array(), {"loss: expected a JSON object"}));
}

TEST(JsonSchema, DescribeListsEveryKeyWithItsDefault) {
  const std::string text = describe(loss_keys(), "  ");
  EXPECT_NE(text.find("  type (string, default \"ohem\"): pixel loss [ce, ohem]\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  ohem_thresh (number, default 0.7): keep pixels below (in [0, 1])\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("  classes (integer, required): class count (>= 1)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  jitter (object): colour\n    p (number, default 1.0)"), std::string::npos) << text;
}

// 2^64 parses as a float; it was reported as "expected an integer >= -1".
TEST(JsonSchema, IntegersBeyond64BitsSaySo) {
  EXPECT_TRUE(rejects(Json::parse(R"({"ohem_min_kept": 18446744073709551616})"),
                      {"loss.ohem_min_kept", "1.8446744073709552e+19", "beyond the 64-bit integers"}));
  EXPECT_EQ(resolve(loss_keys(), Json::parse(R"({"classes": 18446744073709551615})"), "loss")["classes"],
            Json(18446744073709551615ull));
}

// A deeply nested value (a 200 KB file) is refused where it is read, naming
// it, before dump() or a comparison can recurse 100,000 levels.
TEST(JsonRead, DepthIsBoundedAndTheSourceNamed) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_TRUE(testing::throws_mentioning([&] { parse_json(deep, "run.json"); },
                                         {"run.json: JSON nested deeper than 512 levels (at byte 512)"}));
  const std::string ok = std::string(512, '[') + std::string(512, ']');
  EXPECT_EQ(parse_json(ok, "ok.json").size(), 1u);
  // Brackets inside strings (escaped quotes too) are text, not nesting.
  EXPECT_EQ(parse_json("{\"a\": \"[[[\\\"{{{\"}", "s.json")["a"], "[[[\"{{{");
  EXPECT_TRUE(testing::throws_mentioning([&] { parse_json("{\"a\": ", "cut.json"); }, {"cut.json: not valid JSON"}));
  // Found by tests/fuzz/fuzz_json.cpp: a number past double's range escaped as
  // nlohmann's out_of_range, naming no file.
  EXPECT_TRUE(testing::throws_mentioning([&] { parse_json("{\"lr\": 6e405}", "big.json"); },
                                         {"big.json: not valid JSON", "number overflow"}));
}

}  // namespace
}  // namespace cudaseg::schema
