// bench_distill: does distillation make a small student better on the
// built-in synthetic scenes, and what does it cost per step? Trains a teacher
// first, then the student for the same number of steps with and without the
// `distill` objectives, over several seeds (the student's initialisation,
// shuffling and augmentation), and prints a markdown table: mean and per-seed
// validation mIoU of each arm, the gain, and the mean training-step time of
// each arm (the distilled step includes the teacher's forward). CPU, float32.
// docs/training.md records a run.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/registry.h"
#include "runtime/error.h"
#include "runtime/thread_pool.h"
#include "train/config.h"
#include "train/data_config.h"
#include "train/trainer.h"
#include "train/validate.h"
#include "weights/checkpoint.h"

using namespace cudaseg;
using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

void usage(FILE* f) {
  std::fprintf(f,
               "usage: bench_distill [--teacher JSON] [--student JSON] [--distill JSON] [--teacher-iters N]\n"
               "                     [--iters N] [--seeds N] [--classes N] [--size HxW] [--batch N] [--out DIR]\n\n"
               "Trains the teacher, then the student --iters steps with and without distillation for each seed,\n"
               "on the synthetic scenes (CPU), and prints mean mIoU and step time of both arms.\n"
               "defaults: --teacher '{\"name\":\"smp\",\"decoder\":\"deeplabv3p\",\"encoder\":\"resnet18\"}'\n"
               "          --student '{\"name\":\"fastscnn\"}'\n"
               "          --distill '[{\"type\":\"kd\",\"weight\":1.0,\"params\":{\"temperature\":4.0}}]'\n"
               "          (the objectives, or {\"pairs\": [...], \"objectives\": [...]} as in a distill section)\n"
               "          --teacher-iters 400 --iters 200 --seeds 3 --classes 6 --size 64x64 --batch 8\n"
               "          --out runs/bench_distill\n"
               "--reuse-teacher: take OUT/teacher/last from an earlier run of the same teacher settings\n");
}

struct Options {
  Json teacher = {{"name", "smp"}, {"decoder", "deeplabv3p"}, {"encoder", "resnet18"}};
  Json student = {{"name", "fastscnn"}};
  Json objectives = Json::array({{{"type", "kd"}, {"weight", 1.0}, {"params", {{"temperature", 4.0}}}}});
  int64_t teacher_iters = 400, iters = 200, seeds = 3, classes = 6, h = 64, w = 64, batch = 8;
  std::string out = "runs/bench_distill";
  bool reuse_teacher = false;
};

Json run_config(const Options& o, const Json& model, int64_t iters, uint64_t seed) {
  Json m = model;
  m["num_classes"] = o.classes;
  return {{"model", m},
          {"data", {{"dataset", "synthetic"}, {"num_classes", o.classes}, {"train_size", 256}, {"val_size", 32},
                    {"image_size", {o.h + o.h / 2, o.w + o.w / 2}}, {"seed", 1}, {"workers", 1}}},
          {"augment", {{"scale", {0.75, 1.25}}, {"crop", {o.h, o.w}}, {"flip", true}}},
          {"optimizer", {{"type", "adamw"}, {"lr", 2e-3}, {"weight_decay", 1e-4}}},
          {"schedule", {{"policy", "poly"}, {"power", 1.0}, {"warmup_iters", iters / 20}}},
          {"loss", {{"type", "ce"}}},
          {"train", {{"iters", iters}, {"batch_size", o.batch}, {"seed", seed}, {"log_interval", 0},
                     {"val_interval", 0}, {"ckpt_interval", 0}}}};
}

struct Arm {
  double miou = 0;
  double step_seconds = 0;
};

// Trains `config` into `dir`; the mIoU of the final weights on the val split and the mean step time.
Arm train_arm(const Json& config, const std::string& dir) {
  const Json r = train::resolve_config(config);
  const train::DataSetup data =
      train::build_data(r["data"], r["augment"], r["train"]["batch_size"].get<int64_t>(), 8);
  train::Trainer trainer(config, dir, {data.train_loader, nullptr});
  trainer.set_log([](const std::string&) {});
  const auto start = std::chrono::steady_clock::now();
  trainer.run();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const train::EvalResult e = train::evaluate(trainer.net(), *data.val_loader, train::val_config(r), Device::cpu());
  return {e.confusion.miou(), seconds / static_cast<double>(r["train"]["iters"].get<int64_t>())};
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

double stddev(const std::vector<double>& v) {
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return v.size() > 1 ? std::sqrt(s / static_cast<double>(v.size() - 1)) : 0.0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      const auto value = [&]() -> std::string {
        CUDASEG_CHECK(i + 1 < argc, a, " needs a value");
        return argv[++i];
      };
      if (a == "--help" || a == "-h") {
        usage(stdout);
        return 0;
      } else if (a == "--teacher") {
        o.teacher = Json::parse(value());
      } else if (a == "--student") {
        o.student = Json::parse(value());
      } else if (a == "--distill") {
        o.objectives = Json::parse(value());
      } else if (a == "--teacher-iters") {
        o.teacher_iters = std::stoll(value());
      } else if (a == "--iters") {
        o.iters = std::stoll(value());
      } else if (a == "--seeds") {
        o.seeds = std::stoll(value());
      } else if (a == "--classes") {
        o.classes = std::stoll(value());
      } else if (a == "--batch") {
        o.batch = std::stoll(value());
      } else if (a == "--size") {
        const std::string s = value();
        const size_t x = s.find('x');
        CUDASEG_CHECK(x != std::string::npos, "--size: expected HxW, got ", s);
        o.h = std::stoll(s.substr(0, x));
        o.w = std::stoll(s.substr(x + 1));
      } else if (a == "--reuse-teacher") {
        o.reuse_teacher = true;
      } else if (a == "--out") {
        o.out = value();
      } else {
        usage(stderr);
        return 2;
      }
    }
    const fs::path out(o.out);
    fs::create_directories(out);
    std::fprintf(stderr, "teacher %s: %lld steps\n", o.teacher.dump().c_str(), static_cast<long long>(o.teacher_iters));
    const Json teacher_config = run_config(o, o.teacher, o.teacher_iters, 1);
    Arm teacher;
    if (o.reuse_teacher) {
      const Json r = train::resolve_config(teacher_config);
      const weights::Checkpoint ck = weights::load_checkpoint((out / "teacher" / "last").string());
      CUDASEG_CHECK(Json::parse(ck.model_json) == r["model"], "--reuse-teacher: ", (out / "teacher" / "last").string(),
                    " holds another model");
      const nn::SegNetPtr net = nn::create_net(r["model"]);
      net->load_state_dict(std::map<std::string, Tensor>(ck.tensors.begin(), ck.tensors.end()), true);
      const train::DataSetup data = train::build_data(r["data"], r["augment"], o.batch, 8);
      teacher.miou = train::evaluate(*net, *data.val_loader, train::val_config(r), Device::cpu()).confusion.miou();
    } else {
      teacher = train_arm(teacher_config, (out / "teacher").string());
    }
    std::fprintf(stderr, "teacher mIoU %.2f%%, %.3f s/step\n", 100 * teacher.miou, teacher.step_seconds);
    Json teacher_model = o.teacher;
    teacher_model["num_classes"] = o.classes;

    std::vector<double> plain, distilled, plain_t, distilled_t;
    for (int64_t s = 0; s < o.seeds; ++s) {
      const auto seed = static_cast<uint64_t>(s + 1);
      const Json base = run_config(o, o.student, o.iters, seed);
      const Arm p = train_arm(base, (out / ("plain_" + std::to_string(seed))).string());
      Json kd = base;
      kd["distill"] = {{"teacher", {{"model", teacher_model}, {"checkpoint", (out / "teacher" / "last").string()}}}};
      if (o.objectives.is_object()) {
        for (const auto& [k, v] : o.objectives.items()) kd["distill"][k] = v;
      } else {
        kd["distill"]["objectives"] = o.objectives;
      }
      const Arm d = train_arm(kd, (out / ("distilled_" + std::to_string(seed))).string());
      std::fprintf(stderr, "seed %llu: plain %.2f%% (%.3f s/step), distilled %.2f%% (%.3f s/step)\n",
                   static_cast<unsigned long long>(seed), 100 * p.miou, p.step_seconds, 100 * d.miou, d.step_seconds);
      plain.push_back(100 * p.miou);
      distilled.push_back(100 * d.miou);
      plain_t.push_back(p.step_seconds);
      distilled_t.push_back(d.step_seconds);
    }
    const auto seeds_text = [](const std::vector<double>& v) {
      std::string t;
      for (double x : v) {
        char b[32];
        std::snprintf(b, sizeof b, "%s%.2f", t.empty() ? "" : ", ", x);
        t += b;
      }
      return t;
    };
    std::printf("teacher %s, %lld steps: val mIoU %.2f%%; student %s, %lld steps, %lld seeds; objectives %s; "
                "%lldx%lld crops, batch %lld, %lld classes, %d threads\n\n",
                o.teacher.dump().c_str(), static_cast<long long>(o.teacher_iters), 100 * teacher.miou,
                o.student.dump().c_str(), static_cast<long long>(o.iters), static_cast<long long>(o.seeds),
                o.objectives.dump().c_str(), static_cast<long long>(o.h), static_cast<long long>(o.w),
                static_cast<long long>(o.batch), static_cast<long long>(o.classes), num_threads());
    std::printf("| arm | mean mIoU (%%) | std | per seed | s/step |\n| --- | --- | --- | --- | --- |\n");
    std::printf("| without distillation | %.2f | %.2f | %s | %.3f |\n", mean(plain), stddev(plain),
                seeds_text(plain).c_str(), mean(plain_t));
    std::printf("| with distillation | %.2f | %.2f | %s | %.3f |\n", mean(distilled), stddev(distilled),
                seeds_text(distilled).c_str(), mean(distilled_t));
    std::printf("\ngain %+.2f mIoU points; a distilled step takes %.2fx the time of a plain one\n",
                mean(distilled) - mean(plain), mean(distilled_t) / mean(plain_t));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_distill: %s\n", e.what());
    return 1;
  }
  return 0;
}
