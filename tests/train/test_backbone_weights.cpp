// train.backbone_weights (weights/backbone_weights.h): a torchvision ImageNet
// state_dict initialises the net's ResNet or MobileNetV2 backbone before
// training, classifier tensors skipped, everything else strict.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/testing.h"
#include "nets/mobilenetv2.h"
#include "nets/resnet.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "train/trainer.h"
#include "train/data_config.h"
#include "weights/backbone_weights.h"
#include "weights/pth.h"
#include "weights/tensor_dict.h"

namespace fs = std::filesystem;
using namespace cudaseg;
using cudaseg::train::Json;

namespace {

// A torchvision-like checkpoint: `backbone`'s tensors (drawn from another
// seed than the net's) under torchvision's keys, plus its ImageNet classifier.
weights::TensorDict torchvision_file(const nn::Module& backbone, bool mobilenet) {
  weights::TensorDict d;
  for (const auto& [name, t] : backbone.state_dict()) {
    std::string key = name;
    if (mobilenet) key = "features." + name.substr(name.find('.') + 1);  // layerK.N.* -> features.N.*
    d.insert(key, t.clone());
  }
  if (mobilenet) {
    d.insert("features.18.0.weight", Tensor::ones({1280, 320, 1, 1}));
    d.insert("classifier.1.weight", Tensor::ones({1000, 1280}));
    d.insert("classifier.1.bias", Tensor::ones({1000}));
  } else {
    d.insert("fc.weight", Tensor::ones({1000, 512}));
    d.insert("fc.bias", Tensor::ones({1000}));
  }
  return d;
}

std::string write(const weights::TensorDict& d, const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("cudaseg_test_backbone_" + name + ".pth");
  weights::save_pth(p.string(), d);
  return p.string();
}

nn::Module& child(nn::Module& m, const std::string& name) {
  for (const auto& [n, c] : m.named_children())
    if (n == name) return *c;
  throw std::runtime_error("no child " + name);
}

void expect_backbone_equals(const nn::Module& backbone, const weights::TensorDict& file, bool mobilenet) {
  int64_t checked = 0;
  for (const auto& [name, t] : backbone.state_dict()) {
    const std::string key = mobilenet ? "features." + name.substr(name.find('.') + 1) : name;
    ASSERT_TRUE(file.contains(key)) << key;
    EXPECT_EQ(t.to_vector(), file.at(key).to_vector()) << name;
    ++checked;
  }
  EXPECT_GT(checked, 50);
}

TEST(BackboneWeights, ATorchvisionResNetInitialisesTheNetsBackbone) {
  nn::manual_seed(1);
  auto net = nn::create_net(Json{{"name", "linknet"}, {"num_classes", 4}});
  nn::manual_seed(2);
  nets::ResNet imagenet("resnet18");
  const weights::TensorDict file = torchvision_file(imagenet, false);
  const std::string path = write(file, "resnet18");
  const weights::BackboneInit init = weights::load_backbone_weights(*net, path);
  EXPECT_EQ(init.module, "backbone");
  EXPECT_EQ(init.type, "ResNet");
  EXPECT_EQ(init.copied, static_cast<int64_t>(imagenet.state_dict().size()));
  EXPECT_EQ(init.skipped, 2);
  expect_backbone_equals(child(*net, "backbone"), file, false);
  fs::remove(path);
}

TEST(BackboneWeights, MobileNetV2FeaturesGoToZh320sLayers) {
  nn::manual_seed(1);
  auto net = nn::create_net(Json{{"name", "swiftnet"}, {"num_classes", 4}, {"backbone_type", "mobilenet_v2"}});
  nn::manual_seed(3);
  nets::MobileNetV2 imagenet;
  const weights::TensorDict file = torchvision_file(imagenet, true);
  const std::string path = write(file, "mobilenet_v2");
  const weights::BackboneInit init = weights::load_backbone_weights(*net, path);
  EXPECT_EQ(init.type, "MobileNetV2");
  EXPECT_EQ(init.skipped, 3);  // features.18 and the classifier
  expect_backbone_equals(child(*net, "backbone"), file, true);
  fs::remove(path);
}

TEST(BackboneWeights, AMismatchedFileOrANetWithoutBackboneIsRefusedByName) {
  nn::manual_seed(1);
  auto net = nn::create_net(Json{{"name", "linknet"}, {"num_classes", 4}});
  nets::ResNet resnet34("resnet34");
  const std::string wrong = write(torchvision_file(resnet34, false), "resnet34");
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { weights::load_backbone_weights(*net, wrong); },
                                         {"ResNet 'backbone'", "LinkNet", "96 tensors with no place", "layer1.2.conv1.weight", "(88 more)"}));
  nets::ResNet resnet18("resnet18");
  weights::TensorDict bad = torchvision_file(resnet18, false);
  weights::TensorDict shaped;
  for (const auto& [k, t] : bad) shaped.insert(k, k == "conv1.weight" ? Tensor::zeros({64, 3, 5, 5}) : t);
  const std::string wrong_shape = write(shaped, "resnet18_shape");
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { weights::load_backbone_weights(*net, wrong_shape); },
                                         {"conv1.weight", "[64, 3, 7, 7]"}));
  auto plain = nn::create_net(Json{{"name", "fastscnn"}, {"num_classes", 4}});
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { weights::load_backbone_weights(*plain, wrong); },
                                         {"no torchvision backbone"}));
  fs::remove(wrong);
  fs::remove(wrong_shape);
}

// The run config's train.backbone_weights: the trainer's net starts from the file.
TEST(BackboneWeights, TheRunConfigKeyInitialisesTheTrainersNet) {
  nn::manual_seed(4);
  nets::ResNet imagenet("resnet18");
  const weights::TensorDict file = torchvision_file(imagenet, false);
  const std::string path = write(file, "resnet18_trainer");
  Json config;
  config["model"] = {{"name", "linknet"}, {"num_classes", 3}};
  config["data"] = {{"dataset", "synthetic"}, {"num_classes", 3}, {"train_size", 2}, {"val_size", 1},
                    {"image_size", {64, 64}}, {"seed", 3}, {"workers", 0}};
  config["train"] = {{"device", "cpu"}, {"iters", 1}, {"batch_size", 2}, {"backbone_weights", path},
                     {"log_interval", 0}, {"val_interval", 0}, {"ckpt_interval", 0}};
  const train::DataSetup data = train::build_data(config["data"], Json::object(), 2, 1);
  const fs::path dir = fs::temp_directory_path() / "cudaseg_test_backbone_trainer";
  fs::remove_all(dir);
  train::Trainer trainer(config, dir.string(), {data.train_loader, nullptr});
  expect_backbone_equals(child(trainer.net(), "backbone"), file, false);
  fs::remove_all(dir);
  fs::remove(path);
}

}  // namespace
