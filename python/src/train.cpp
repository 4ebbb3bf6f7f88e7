// _core._train: rtseg_train's work (cli/train_main.cpp) for Python, with the
// progress and log lines delivered to Python callables.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bindings.h"
#include "runtime/error.h"
#include "train/config.h"
#include "train/data_config.h"
#include "train/trainer.h"

namespace cudaseg::python {
namespace {

namespace py = pybind11;
namespace fs = std::filesystem;

// rtseg_train's choice of output folder: out, the folder resume names (or
// holds its checkpoint), train.out, runs/<config file's stem>.
fs::path out_dir(const std::optional<fs::path>& out, const std::optional<fs::path>& resume,
                 const train::Json& config, const std::optional<fs::path>& config_path) {
  if (out) return *out;
  if (resume) return fs::is_directory(*resume) ? *resume : resume->parent_path();
  const std::string configured = train::train_config(config).out;
  if (!configured.empty()) return configured;
  if (config_path) return fs::path("runs") / config_path->stem();
  throw py::value_error("train: a config given as a dict needs out= (or train.out) to name the run folder");
}

py::dict progress_dict(const train::StepProgress& p) {
  py::dict terms;
  for (const auto& [name, value] : p.terms) terms[py::str(name)] = value;
  py::dict d;
  d["step"] = p.step;
  d["iters"] = p.iters;
  d["loss"] = p.loss;
  d["terms"] = terms;
  d["lr"] = p.lr;
  d["seconds"] = p.seconds;
  if (p.miou) d["miou"] = *p.miou;
  return d;
}

py::dict train(const std::optional<fs::path>& config_path, const std::optional<std::string>& config_text,
               const std::vector<std::string>& overrides, const std::optional<fs::path>& out,
               const std::optional<fs::path>& resume, const py::object& progress, const py::object& log) {
  if (config_path.has_value() == config_text.has_value())
    throw py::value_error("train: give the config as a file path or as a dict");
  const py::object write_stderr = py::module_::import("sys").attr("stderr").attr("write");
  // A Python exception from a callback (or Ctrl-C) raises the stop flag: the
  // trainer ends after the step with a checkpoint, and the exception is
  // re-raised once it has.
  std::atomic<bool> stop{false};
  std::optional<py::error_already_set> pending;
  auto call_python = [&](auto&& body) {
    py::gil_scoped_acquire gil;
    if (pending) return;
    try {
      body();
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    } catch (py::error_already_set& e) {
      pending = std::move(e);
      stop = true;
    }
  };
  py::gil_scoped_release nogil;
  train::Json config;
  if (config_path) {
    config = train::load_config(config_path->string(), overrides);
  } else {
    train::Json raw = train::Json::parse(*config_text);
    for (const std::string& o : overrides) train::apply_override(raw, o);
    config = train::resolve_config(raw);
  }
  const std::string dir = out_dir(out, resume, config, config_path).string();
  const int64_t batch = config["train"]["batch_size"].get<int64_t>();
  const train::DataSetup data = train::build_data(config["data"], config["augment"], batch, 1);
  train::Trainer trainer(config, dir, {data.train_loader, data.val_loader});
  trainer.set_stop_flag(&stop);
  trainer.set_log([&](const std::string& line) {
    call_python([&] {
      if (log.is_none()) write_stderr(line + "\n");
      else log(line);
    });
  });
  trainer.set_progress([&](const train::StepProgress& p) {
    call_python([&] {
      if (!progress.is_none()) progress(progress_dict(p));
    });
  });
  if (resume) trainer.resume(resume->string());
  const train::TrainResult r = trainer.run();
  py::gil_scoped_acquire gil;
  if (pending) throw *pending;
  const fs::path best = fs::path(dir) / "best.json";
  py::dict result;
  result["step"] = r.step;
  result["best_miou"] = r.best_step >= 0 ? py::object(py::float_(r.best_miou)) : py::none();
  result["best_step"] = r.best_step >= 0 ? py::object(py::int_(r.best_step)) : py::none();
  result["last_miou"] = r.last_miou >= 0 ? py::object(py::float_(r.last_miou)) : py::none();
  result["out"] = dir;
  result["weights"] = (r.best_step >= 0 && fs::exists(best) ? best : fs::path(dir) / "last.json").string();
  return result;
}

}  // namespace

void bind_train(py::module_& m) {
  m.def("_train", &train, py::arg("config_path"), py::arg("config_text"), py::arg("overrides"), py::arg("out"),
        py::arg("resume"), py::arg("progress"), py::arg("log"),
        "The training run behind cudaseg.train (see its docstring).");
}

}  // namespace cudaseg::python
