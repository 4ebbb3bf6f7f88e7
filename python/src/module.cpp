// The extension module cudaseg._core: Session (infer::InferenceSession),
// convert (weights::convert_checkpoint), the training entry point
// (train.cpp) and Error, the Python face of cudaseg::Error.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "arrays.h"
#include "bindings.h"
#include "cudaseg.h"
#include "weights/convert.h"

namespace cudaseg::python {
namespace {

namespace fs = std::filesystem;

// One InferenceSession per Python object. Calls run without the GIL, so
// Python threads may share a session; the lock keeps them one at a time, as
// a session requires (its memory plans and graphs are per session).
class Session {
 public:
  Session(const fs::path& weights, const std::string& device, const std::string& precision,
          std::optional<int> threads, std::optional<std::string> fit, std::optional<std::array<int64_t, 2>> size,
          bool cuda_graphs, bool tf32, bool verify) {
    infer::SessionOptions o;
    o.device = Device::parse(device);
    o.precision = infer::parse_precision(precision);
    o.cuda_graphs = cuda_graphs;
    o.tf32 = tf32;
    o.verify_checksums = verify;
    if (size) {
      if (fit && *fit != "resize") throw py::value_error("Session: size resizes; it does not go with fit='" + *fit + "'");
      o.size_policy = infer::SizePolicy::fixed;
      o.input_size = *size;
    } else if (fit) {
      if (*fit == "pad") o.size_policy = infer::SizePolicy::pad;
      else if (*fit == "keep") o.size_policy = infer::SizePolicy::keep;
      else if (*fit != "checkpoint")
        throw py::value_error("Session: fit is 'checkpoint', 'pad', 'keep' or 'resize' (with size), not '" + *fit + "'");
    }
    if (threads) {
      if (*threads < 1) throw py::value_error("Session: threads must be at least 1");
      set_num_threads(*threads);
    }
    py::gil_scoped_release nogil;
    session_ = std::make_unique<infer::InferenceSession>(infer::InferenceSession::load(weights.string(), o));
  }

  py::array predict(const py::handle& image) {
    const Tensor in = tensor_from_python(image, "predict");
    Tensor labels;
    {
      py::gil_scoped_release nogil;
      const std::lock_guard<std::mutex> lock(mutex_);
      labels = session_->predict(in);
    }
    return array_from_tensor(labels);
  }

  py::array logits(const py::handle& x) {
    const Tensor in = tensor_from_python(x, "logits");
    Tensor out;
    {
      py::gil_scoped_release nogil;
      const std::lock_guard<std::mutex> lock(mutex_);
      out = session_->logits(in);
    }
    return array_from_tensor(out);
  }

  const infer::InferenceSession& session() const { return *session_; }

 private:
  std::unique_ptr<infer::InferenceSession> session_;
  std::mutex mutex_;
};

fs::path convert(const fs::path& src, const std::optional<fs::path>& config, const std::optional<fs::path>& out,
                 bool fp16,
                 const std::optional<std::string>& to, const std::optional<std::string>& key,
                 const std::optional<std::string>& strip_prefix) {
  if (!out) throw py::value_error("convert: out names the file to write");
  weights::ConvertOptions o;
  if (config) o.config = config->string();
  o.fp16 = fp16;
  o.to = to.value_or("");
  o.key = key.value_or("");
  o.strip_prefix = strip_prefix.value_or("");
  {
    py::gil_scoped_release nogil;
    weights::convert_checkpoint(src.string(), out->string(), o);
  }
  if (!o.to.empty()) return *out;
  return weights::checkpoint_paths(out->string()).json;
}

}  // namespace
}  // namespace cudaseg::python

PYBIND11_MODULE(_core, m) {
  namespace py = pybind11;
  using cudaseg::python::Session;
  m.doc() = "cudaseg's C++ runtime: inference sessions, checkpoint conversion and training.";
  m.attr("__version__") = cudaseg::version();
  m.def("compiled_backends", &cudaseg::compiled_backends, "The backends built in: ['cpu'] or ['cpu', 'cuda'].");
  py::register_exception<cudaseg::Error>(m, "Error", PyExc_RuntimeError);
  m.attr("Error").attr("__doc__") =
      "A failure inside cudaseg (bad checkpoint, wrong input shape, diverged training, ...), with the C++ "
      "library's message. A subclass of RuntimeError.";

  py::class_<Session>(m, "Session", R"(A checkpoint loaded and prepared for inference.

Session(weights, device="cpu", precision="fp32", threads=None, fit=None, size=None,
        cuda_graphs=True, tf32=False, verify=True)

weights: a cudaseg checkpoint, NAME.json (or NAME.bin, or NAME), as rtseg_train
    and rtseg_convert write it.
device: "cpu", "cuda" or "cuda:N".
precision: "fp32", or "fp16"/"bf16" on CUDA.
threads: CPU threads for every session of the process (default: CUDASEG_NUM_THREADS,
    else every hardware thread).
fit, size: how an image of any size meets the net, as rtseg_infer does it. By default
    the checkpoint's preprocess.fit (a pad to the net's size divisor, or a resize to the
    checkpoint's input size); fit="pad" pads bottom and right, fit="keep" runs the
    image's own size, size=(h, w) resizes to h x w. The logits are cropped and resized
    back, so predict() always returns labels of the image's size.
cuda_graphs, tf32: CUDA graph replay per input size (default on) and TF32 maths
    (default off, so float32 matches the CPU).
verify: check each tensor's CRC-32C while loading.

Raises cudaseg.Error with the library's message when loading fails.)")
      .def(py::init<const std::filesystem::path&, const std::string&, const std::string&, std::optional<int>,
                    std::optional<std::string>, std::optional<std::array<int64_t, 2>>, bool, bool, bool>(),
           py::arg("weights"), py::arg("device") = "cpu", py::arg("precision") = "fp32", py::arg("threads") = py::none(),
           py::arg("fit") = py::none(), py::arg("size") = py::none(), py::arg("cuda_graphs") = true,
           py::arg("tf32") = false, py::arg("verify") = true)
      .def("predict", &Session::predict, py::arg("image"), R"(Segments one image.

image: an H x W x 3 uint8 RGB array of any size: NumPy, or a DLPack producer such as a
    torch uint8 tensor.
Returns the class ids as an H x W int64 NumPy array.)")
      .def("logits", &Session::logits, py::arg("x"), R"(Runs the net on an NCHW input as it is (no preprocessing).

x: a floating N x C x H x W array: NumPy (read in place when its strides allow), an
    object with __dlpack__ (a torch tensor, CPU or CUDA: read in place once the
    producer's pending writes are done) or a DLPack capsule (consumed; from a CUDA
    tensor, synchronize its stream first: a capsule carries no stream).
Returns float32 N x K x h x w logits as a NumPy array over the library's buffer
(no copy); torch.from_dlpack(result) shares it.)")
      .def_property_readonly("num_classes", [](const Session& s) { return s.session().num_classes(); })
      .def_property_readonly("class_names", [](const Session& s) { return s.session().info().class_names; })
      .def_property_readonly("model", [](const Session& s) {
        return py::module_::import("json").attr("loads")(s.session().info().model_json);
      }, "The registry's model object: {\"name\": ..., \"num_classes\": ..., ...}.")
      .def_property_readonly("fit", [](const Session& s) { return s.session().fit(); },
                             "How images meet the net: 'resize', 'pad' or 'none'.")
      .def_property_readonly("size_divisor", [](const Session& s) { return s.session().size_divisor(); })
      .def("input_size_for", [](const Session& s, int64_t h, int64_t w) { return s.session().input_size_for(h, w); },
           py::arg("height"), py::arg("width"), "The net's input size (h, w) for an image of height x width.")
      .def("__repr__", [](const Session& s) {
        const auto& o = s.session().options();
        return "cudaseg.Session(" + s.session().info().model_json + ", device=" + o.device.str() + ", precision=" +
               cudaseg::infer::precision_name(o.precision) + ")";
      });

  m.def("convert", &cudaseg::python::convert, py::arg("src"), py::arg("config") = py::none(), py::arg("out") = py::none(),
        py::kw_only(), py::arg("fp16") = false, py::arg("to") = py::none(), py::arg("key") = py::none(),
        py::arg("strip_prefix") = py::none(), R"(Converts a checkpoint, as rtseg_convert does.

src: a PyTorch .pth (read by a restricted unpickler: nothing in it runs), a
    .safetensors file or a cudaseg checkpoint; the format is read from the content.
config: a JSON with a "model" object (a nets/*.json run config): copied into the
    checkpoint with its preprocessing and classes, and the tensors checked against the net.
out: the output; a cudaseg checkpoint OUT.json + OUT.bin unless to="pth" or "safetensors".
fp16: store floating tensors as float16.
key: the state dict's key inside a wrapping .pth dict (default: state_dict,
    model_state_dict, model, ema, or the dict itself).
strip_prefix: removed from the tensor names that start with it.
Returns the path written (OUT.json for a cudaseg checkpoint).)");

  m.def("read_image", [](const std::filesystem::path& path) {
    cudaseg::Tensor image;
    {
      py::gil_scoped_release nogil;
      image = cudaseg::read_image(path.string());
    }
    return cudaseg::python::array_from_tensor(image);
  }, py::arg("path"), "Decodes a JPEG, PNG or BMP file to an H x W x 3 uint8 RGB NumPy array (Session.predict's input).");

  cudaseg::python::bind_train(m);
}
