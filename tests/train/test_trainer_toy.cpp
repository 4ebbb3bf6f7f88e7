#include "trainer_toy.h"

#include <algorithm>
#include <cmath>

#include <mutex>

#include "autograd/fn.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nn/segnet.h"
#include "runtime/rng.h"

namespace cudaseg::train_testing {
namespace {

class ToySeg : public nn::SegNet {
 public:
  ToySeg(int64_t classes, int64_t width, int64_t kernel, bool aux, double dropout) : SegNet("ToySeg") {
    conv_ = register_module("conv", std::make_shared<nn::Conv2d>(3, width, kernel, 1, kernel / 2));
    bn_ = register_module("bn", std::make_shared<nn::BatchNorm2d>(width));
    if (dropout > 0) drop_ = register_module("drop", std::make_shared<nn::Dropout>(dropout, true));
    head_ = register_module("head", std::make_shared<nn::Conv2d>(width, classes, 1));
    if (aux) aux_ = register_module("aux_head", std::make_shared<nn::Conv2d>(width, classes, 1));
  }
  Tensor forward(const Tensor& x) override { return head_->forward(features(x)); }
  std::vector<Tensor> forward_train(const Tensor& x) override {
    const Tensor f = features(x);
    std::vector<Tensor> out{head_->forward(f)};
    if (aux_) out.push_back(aux_->forward(fn::avg_pool2d(f, {{2, 2}})));
    return out;
  }

 private:
  Tensor features(const Tensor& x) {
    Tensor f = fn::relu(bn_->forward(conv_->forward(x)));
    return drop_ ? drop_->forward(f) : f;
  }
  std::shared_ptr<nn::Module> conv_, bn_, drop_, head_, aux_;
};

}  // namespace

void register_toy_net() {
  static std::once_flag once;
  std::call_once(once, [] {
    nn::NetSpec spec;
    spec.name = "train_toy";
    spec.summary = "a tiny conv net for the training tests";
    spec.args = {{"width", 8, {}, "hidden channels"},
                 {"kernel", 3, {1, 3}, "first conv kernel"},
                 {"use_aux", false, {}, "aux head at 1/2 resolution"},
                 {"dropout", 0.0, {}, "channel dropout after the features"}};
    spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
      return std::make_shared<ToySeg>(a["num_classes"].get<int64_t>(), a["width"].get<int64_t>(),
                                      a["kernel"].get<int64_t>(), a["use_aux"].get<bool>(),
                                      a["dropout"].get<double>());
    };
    nn::register_net(spec);
  });
}

nlohmann::json toy_config() {
  register_toy_net();
  return {{"model", {{"name", "train_toy"}, {"num_classes", 3}}},
          {"optimizer", {{"type", "adam"}, {"lr", 0.02}, {"weight_decay", 0.0}}},
          {"schedule", {{"policy", "poly"}, {"warmup_iters", 2}}},
          {"loss", {{"type", "ce"}}},
          {"train", {{"iters", 30}, {"batch_size", 4}, {"seed", 7}, {"log_interval", 10}, {"val_interval", 0},
                     {"ckpt_interval", 0}}}};
}

std::shared_ptr<train::Loader> toy_loader(train::DatasetPtr data, bool training, int64_t batch_size, uint64_t seed,
                                          int workers) {
  train::LoaderOptions lo;
  lo.batch_size = training ? batch_size : 1;
  lo.shuffle = training;
  lo.drop_last = training;
  lo.workers = workers;
  lo.seed = seed;
  train::AugmentOptions ao;
  ao.flip = true;
  ao.seed = seed;
  train::TransformPtr t = training ? train::TransformPtr(std::make_shared<train::TrainTransform>(ao))
                                   : std::make_shared<train::ValTransform>(ao.mean, ao.std);
  return std::make_shared<train::Loader>(std::move(data), t, lo);
}

train::TrainData toy_data(int64_t n_train, int64_t n_val, uint64_t seed, int workers) {
  train::TrainData d;
  d.train = toy_loader(std::make_shared<BlobsDataset>(n_train, 12, 12, seed), true, 4, seed, workers);
  if (n_val > 0) d.val = toy_loader(std::make_shared<BlobsDataset>(n_val, 12, 12, seed + 1000), false);
  return d;
}

train::Sample BlobsDataset::get(int64_t index) const {
  Generator g(seed_ * 1000003 + static_cast<uint64_t>(index));
  const auto r = g.uniform({8}).to_vector();
  const auto noise = g.uniform({h_ * w_ * 3}, -30, 30).to_vector();
  std::vector<double> image(static_cast<size_t>(h_ * w_ * 3)), label(static_cast<size_t>(h_ * w_));
  const double colours[3][3] = {{40, 40, 40}, {210, 50, 40}, {40, 70, 210}};
  auto inside = [&](int64_t y, int64_t x, double a, double b, double c, double d) {
    const double fy = static_cast<double>(y) / static_cast<double>(h_), fx = static_cast<double>(x) / static_cast<double>(w_);
    return fy >= 0.6 * a && fy < 0.6 * a + 0.2 + 0.3 * b && fx >= 0.6 * c && fx < 0.6 * c + 0.2 + 0.3 * d;
  };
  for (int64_t y = 0; y < h_; ++y) {
    for (int64_t x = 0; x < w_; ++x) {
      int cls = 0;
      if (inside(y, x, r[0], r[1], r[2], r[3])) cls = 1;
      if (inside(y, x, r[4], r[5], r[6], r[7])) cls = 2;
      const size_t p = static_cast<size_t>(y * w_ + x);
      label[p] = y == 0 ? 255 : cls;
      for (size_t c = 0; c < 3; ++c) image[p * 3 + c] = std::round(std::clamp(colours[cls][c] + noise[p * 3 + c], 0.0, 255.0));
    }
  }
  return {Tensor::from_vector(image, {h_, w_, 3}, DType::u8), Tensor::from_vector(label, {h_, w_}, DType::i64),
          "blob" + std::to_string(index)};
}

}  // namespace cudaseg::train_testing
