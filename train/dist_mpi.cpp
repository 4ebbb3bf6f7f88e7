// The MPI engine of train/dist.h (Open MPI), and NCCL beside it for CUDA
// tensors when the rank trains on a GPU.
#include "cudaseg_config.h"

#if CUDASEG_WITH_MPI

// The C API alone: Open MPI's C++ bindings need libmpi_cxx at link time.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <cstdio>

#include "runtime/error.h"
#include "train/dist_backends.h"

namespace cudaseg::train::dist::detail {
namespace {

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  CUDASEG_FAIL("MPI ", what, ": ", std::string(text, static_cast<size_t>(length)));
}

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i64: return MPI_INT64_T;
    default: CUDASEG_FAIL("MPI collective: dtype ", dtype_name(dtype), " is not carried (f32, f64, i64)");
  }
}

int element_count(const Tensor& t, const char* what) {
  CUDASEG_CHECK(t.defined() && t.is_contiguous(), "MPI ", what, ": the tensor must be defined and contiguous");
  CUDASEG_CHECK(t.numel() < (int64_t{1} << 31), "MPI ", what, ": ", t.numel(), " elements exceed one call's count");
  return static_cast<int>(t.numel());
}

// The host tensor MPI works on: `t` itself on the CPU, a copy of a CUDA one.
Tensor on_host(const Tensor& t) { return t.device().is_cpu() ? t : t.to(Device::cpu()); }

struct MpiPending : Pending {
  MPI_Request request = MPI_REQUEST_NULL;
  Tensor host, target;
  void wait() override {
    check(MPI_Wait(&request, MPI_STATUS_IGNORE), "wait");
    if (!target.device().is_cpu()) target.copy_(host);
  }
};

class MpiCommunicator : public Communicator {
 public:
  explicit MpiCommunicator(int nccl_device) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      // Collectives are issued from the training thread alone.
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "init");
      owns_init_ = true;
    }
    // A communicator of our own: a library or test using MPI_COMM_WORLD cannot interleave with ours.
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "comm_dup");
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &world_);
#if CUDASEG_WITH_NCCL
    if (nccl_device >= 0) {
      std::string id = rank_ == 0 ? NcclComm::new_unique_id() : std::string(128, '\0');
      check(MPI_Bcast(id.data(), static_cast<int>(id.size()), MPI_BYTE, 0, comm_), "broadcast of NCCL's id");
      nccl_ = std::make_unique<NcclComm>(id, rank_, world_, nccl_device);
    }
#else
    CUDASEG_CHECK(nccl_device < 0, "MPI: NCCL was asked for, and this build has none");
#endif
  }
  ~MpiCommunicator() override {
#if CUDASEG_WITH_NCCL
    nccl_.reset();
#endif
    MPI_Comm_free(&comm_);
    if (owns_init_) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int world() const override { return world_; }
  std::string backend() const override { return nccl() ? "mpi+nccl" : "mpi"; }

  void all_reduce_sum(Tensor& t) override {
    if (nccl() && !t.device().is_cpu()) return nccl_->all_reduce_sum(t);
    const int n = element_count(t, "all-reduce");
    Tensor host = on_host(t);
    check(MPI_Allreduce(MPI_IN_PLACE, host.raw_data(), n, mpi_type(t.dtype()), MPI_SUM, comm_), "all-reduce");
    if (!t.device().is_cpu()) t.copy_(host);
  }

  std::unique_ptr<Pending> all_reduce_sum_async(Tensor& t) override {
    if (nccl() && !t.device().is_cpu()) {
      // NCCL queues the sum on the current stream: later work on that stream sees the result.
      nccl_->all_reduce_sum(t);
      struct Queued : Pending {
        void wait() override {}
      };
      return std::make_unique<Queued>();
    }
    const int n = element_count(t, "all-reduce");
    auto p = std::make_unique<MpiPending>();
    p->host = on_host(t);
    p->target = t;
    check(MPI_Iallreduce(MPI_IN_PLACE, p->host.raw_data(), n, mpi_type(t.dtype()), MPI_SUM, comm_, &p->request),
          "start of an all-reduce");
    return p;
  }

  void broadcast(Tensor& t, int root) override {
    if (nccl() && !t.device().is_cpu()) return nccl_->broadcast(t, root);
    const int bytes = element_count(t, "broadcast") * static_cast<int>(t.itemsize());
    Tensor host = on_host(t);
    check(MPI_Bcast(host.raw_data(), bytes, MPI_BYTE, root, comm_), "broadcast");
    if (!t.device().is_cpu()) t.copy_(host);
  }

  void barrier() override { check(MPI_Barrier(comm_), "barrier"); }


 protected:
  void end_ranks(const std::string& message) override {
    std::fprintf(stderr, "rank %d of %d: %s\n", rank_, world_, message.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, world_ = 1;
  bool owns_init_ = false;
#if CUDASEG_WITH_NCCL
  std::unique_ptr<NcclComm> nccl_;
  bool nccl() const { return nccl_ != nullptr; }
#else
  // Without NCCL a CUDA tensor goes through host memory; these calls are never reached.
  struct NoNccl {
    void all_reduce_sum(Tensor&) {}
    void broadcast(Tensor&, int) {}
  };
  std::unique_ptr<NoNccl> nccl_;
  static bool nccl() { return false; }
#endif
};

}  // namespace

std::unique_ptr<Communicator> make_mpi(int nccl_device) { return std::make_unique<MpiCommunicator>(nccl_device); }

}  // namespace cudaseg::train::dist::detail

#endif  // CUDASEG_WITH_MPI
