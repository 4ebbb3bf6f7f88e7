#include "train/dist.h"

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "cudaseg_config.h"
#include "runtime/error.h"
#include "runtime/gpu.h"
#include "train/dist_backends.h"

namespace cudaseg::train::dist {
namespace {

class SingleProcess : public Communicator {
 public:
  int rank() const override { return 0; }
  int world() const override { return 1; }
  std::string backend() const override { return "single"; }
  void all_reduce_sum(Tensor&) override {}
  std::unique_ptr<Pending> all_reduce_sum_async(Tensor&) override {
    struct Done : Pending {
      void wait() override {}
    };
    return std::make_unique<Done>();
  }
  void broadcast(Tensor&, int) override {}
  void barrier() override {}

 protected:
  void end_ranks(const std::string& message) override {
    // One process has no peer to release: the caller's ordinary error path reports it.
    CUDASEG_FAIL(message);
  }
};

std::unique_ptr<Communicator>& current() {
  static std::unique_ptr<Communicator> comm = std::make_unique<SingleProcess>();
  return comm;
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

int env_int(const char* name, int fallback) {
  const char* v = env(name);
  if (v == nullptr) return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  CUDASEG_CHECK(end != v && *end == '\0' && n >= 0, "distributed launch: ", name, "='", v,
                "' is not a non-negative integer");
  return static_cast<int>(n);
}

bool under_mpirun() { return env("OMPI_COMM_WORLD_SIZE") != nullptr; }

int local_rank() {
  if (under_mpirun()) return env_int("OMPI_COMM_WORLD_LOCAL_RANK", 0);
  return env_int("LOCAL_RANK", 0);
}

bool is_cuda(const std::string& device) { return device.rfind("cuda", 0) == 0; }

[[maybe_unused]] int cuda_index(const std::string& device) {
  const std::string resolved = rank_device(device);
  return resolved.size() > 5 ? std::atoi(resolved.c_str() + 5) : 0;
}

}  // namespace

bool Communicator::any(bool flag) {
  if (world() == 1) return flag;
  Tensor t = Tensor::full({1}, flag ? 1.0 : 0.0, DType::f64);
  all_reduce_sum(t);
  return t.item() > 0;
}

void Communicator::abort(const std::string& message) {
  end_ranks(message);
  std::_Exit(1);
}

Communicator& world() { return *current(); }

std::string rank_device(const std::string& device) {
  if (device != "cuda") return device;
  const int ranks = under_mpirun() ? env_int("OMPI_COMM_WORLD_SIZE", 1) : env_int("WORLD_SIZE", 1);
  return ranks > 1 ? "cuda:" + std::to_string(local_rank()) : device;
}

Communicator& init_from_environment(const std::string& device) {
  const bool mpi = under_mpirun();
  const int ranks = mpi ? env_int("OMPI_COMM_WORLD_SIZE", 1) : env_int("WORLD_SIZE", 1);
  if (ranks <= 1) return world();
  const bool cuda = is_cuda(device);
  if (mpi) {
#if CUDASEG_WITH_MPI
    current() = detail::make_mpi(cuda && CUDASEG_WITH_NCCL ? cuda_index(device) : -1);
    return world();
#else
    CUDASEG_FAIL("distributed launch: mpirun started ", ranks, " ranks, but this build has no MPI; install ",
                 "libopenmpi-dev (scripts/setup.sh) and reconfigure");
#endif
  }
  const int rank = env_int("RANK", -1);
  CUDASEG_CHECK(rank >= 0 && rank < ranks, "distributed launch: WORLD_SIZE=", ranks, " needs RANK in [0, ",
                ranks, "), got ", env("RANK") ? env("RANK") : "none");
  CUDASEG_CHECK(cuda, "distributed launch: torchrun-style variables (WORLD_SIZE=", ranks, ") with train.device ",
                device, ": CPU collectives run over MPI only; launch CPU ranks with mpirun -np ", ranks);
#if CUDASEG_WITH_NCCL
  const char* addr = env("MASTER_ADDR");
  CUDASEG_CHECK(addr != nullptr && env("MASTER_PORT") != nullptr, "distributed launch: WORLD_SIZE=", ranks,
                " needs MASTER_ADDR and MASTER_PORT (rank 0's address and a free port)");
  current() = detail::make_nccl_tcp(rank, ranks, cuda_index(device), addr, env_int("MASTER_PORT", 0));
  return world();
#else
  CUDASEG_FAIL("distributed launch: torchrun-style variables need NCCL, and this build has none (configure with ",
               "CUDASEG_CUDA=ON where /usr/local/cuda has nccl.h)");
#endif
}

void shutdown() { current() = std::make_unique<SingleProcess>(); }

}  // namespace cudaseg::train::dist
