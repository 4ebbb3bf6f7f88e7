#include <gtest/gtest.h>

#include "tests/common/sequential_net.h"

#include "common/testing.h"
#include "nn/layers.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;

namespace {

// A tiny net registered by the test itself, so the registry's validation is
// checked independently of the built-in nets.
void register_toy() {
  static bool done = false;
  if (done) return;
  done = true;
  nn::NetSpec spec;
  spec.name = "toy_net";
  spec.summary = "a 1x1 conv, for the registry tests";
  spec.args = {{"width", 8, {}, "hidden channels"},
               {"act", "relu", {"relu", "silu"}, "activation"},
               {"use_aux", false, {}, "aux head"}};
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<ct::SequentialNet>(std::vector<nn::ModulePtr>{
        std::make_shared<nn::Conv2d>(3, a["width"].get<int64_t>(), 1), nn::make_activation(a["act"].get<std::string>()),
        std::make_shared<nn::Conv2d>(a["width"].get<int64_t>(), a["num_classes"].get<int64_t>(), 1)});
  };
  nn::register_net(spec);
}

}  // namespace

TEST(Registry, BuildsFromTheModelObjectWithDefaults) {
  register_toy();
  const nn::Json resolved = nn::resolve_model_config({{"name", "toy_net"}, {"num_classes", 5}});
  EXPECT_EQ(resolved["width"], 8);
  EXPECT_EQ(resolved["act"], "relu");
  EXPECT_EQ(resolved["use_aux"], false);
  nn::ModulePtr net = nn::create_net({{"name", "toy_net"}, {"num_classes", 5}, {"width", 4}});
  EXPECT_EQ(net->get("2.weight").shape(), (Shape{5, 4, 1, 1}));
  EXPECT_EQ(net->forward(ct::randn({1, 3, 7, 13}, 1, DType::f32)).shape(), (Shape{1, 5, 7, 13}));
}

TEST(Registry, ErrorsListWhatIsAccepted) {
  register_toy();
  EXPECT_TRUE(ct::throws_mentioning([] { nn::create_net({{"name", "no_such_net"}, {"num_classes", 2}}); },
                                    {"no_such_net", "toy_net"}));
  EXPECT_TRUE(ct::throws_mentioning(
      [] { nn::create_net({{"name", "toy_net"}, {"num_classes", 2}, {"widht", 3}}); },
      {"unknown key 'widht' in model (did you mean 'width'?)", "act", "use_aux"}));
  EXPECT_TRUE(ct::throws_mentioning(
      [] { nn::create_net({{"name", "toy_net"}, {"num_classes", 2}, {"width", "wide"}}); },
      {"net 'toy_net': model.width: expected an integer", "\"wide\""}));
  EXPECT_TRUE(ct::throws_mentioning(
      [] { nn::create_net({{"name", "toy_net"}, {"num_classes", 2}, {"act", "gelu"}}); },
      {"act", "gelu", "\"relu\", \"silu\""}));
  EXPECT_TRUE(ct::throws_mentioning([] { nn::create_net({{"name", "toy_net"}}); }, {"num_classes"}));
  EXPECT_TRUE(ct::throws_mentioning([] { nn::create_net({{"name", "toy_net"}, {"num_classes", 0}}); },
                                    {"num_classes", "positive"}));
}

TEST(Registry, UnknownKeysAndNetsSuggestTheNearest) {
  register_toy();
  EXPECT_TRUE(ct::throws_mentioning([] { nn::create_net({{"name", "toy_nte"}, {"num_classes", 2}}); },
                                    {"unknown net 'toy_nte' (did you mean 'toy_net'?)"}));
  EXPECT_TRUE(ct::throws_mentioning([] { nn::create_net({{"name", "toy_net"}, {"num_classes", 2}, {"act", "rleu"}}); },
                                    {"model.act", "got \"rleu\" (did you mean \"relu\"?)"}));
  try {
    nn::create_net({{"name", "toy_net"}, {"num_classes", 2}, {"dropout", 0.1}});
    ADD_FAILURE() << "an unknown key was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'dropout' in model; accepted: name, num_classes, width"),
              std::string::npos)
        << e.what();
  }
}

TEST(Registry, AbsurdSizesAreRefusedBeforeAllocating) {
  register_toy();
  // 2^40 classes x 8 channels of float32 is 32 TiB: an error naming the net,
  // not an out-of-memory kill.
  EXPECT_TRUE(ct::throws_mentioning(
      [] { nn::create_net({{"name", "toy_net"}, {"num_classes", int64_t{1} << 40}}); },
      {"building net 'toy_net'", "its parameters and buffers: allocating 3.28e+04 GiB would pass the limit of 4 GiB"}));
  EXPECT_TRUE(ct::throws_mentioning(
      [] { nn::create_net({{"name", "toy_net"}, {"num_classes", 1 << 20}, {"width", 1 << 20}}); },
      {"building net 'toy_net'", "would pass the limit of 4 GiB"}));
  // Beyond 2^20 an integer argument is refused before the builder could
  // overflow int64 multiplying it.
  EXPECT_TRUE(ct::throws_mentioning(
      [] { nn::create_net({{"name", "toy_net"}, {"num_classes", 2}, {"width", int64_t{1} << 62}}); },
      {"net 'toy_net': model.width: expected an integer in [-1048576, 1048576]"}));
  // The limit is per net: one built after the refusal is unaffected.
  EXPECT_EQ(nn::create_net({{"name", "toy_net"}, {"num_classes", 3}})->get("2.weight").shape(), (Shape{3, 8, 1, 1}));
}
