// Data-parallel collectives. A Communicator joins the processes of one run
// (ranks 0 .. world-1) and carries the few collectives training needs:
// element-wise sums (blocking, and started early to overlap the backward),
// broadcasts, a barrier and a flag all ranks agree on. The engines are
// existing ones, never a home-made protocol: MPI (Open MPI) carries CPU
// tensors; NCCL carries CUDA tensors where the build has it.
//
// Launch (init_from_environment):
//   - under Open MPI's mpirun (OMPI_COMM_WORLD_SIZE set): MPI; with a CUDA
//     device and NCCL built in, CUDA tensors go over NCCL, whose unique id
//     rank 0 broadcasts over MPI, and host tensors over MPI;
//   - torchrun-style variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
//     MASTER_PORT) without an MPI launcher: NCCL only, its unique id handed
//     out by rank 0 over one TCP connection per rank to MASTER_ADDR:
//     MASTER_PORT (the bootstrap alone, no collective goes through it); host
//     tensors are copied to the device for the collective. CPU training
//     launched this way is refused with a message naming mpirun;
//   - neither: one process, world 1, every collective the identity.
// A build without MPI (no libopenmpi-dev at configure time) refuses a
// multi-process launch with a message saying so.
//
// Every rank must issue the same collectives in the same order; a rank that
// fails calls abort(), which ends every rank's process (MPI_Abort / the
// launcher's tear-down) so no peer is left waiting in a collective.
#pragma once

#include <memory>
#include <string>

#include "runtime/tensor.h"

namespace cudaseg::train::dist {

// A started collective; wait() completes it, after which its tensor holds the result.
class Pending {
 public:
  virtual ~Pending() = default;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // "single", "mpi", "mpi+nccl" or "nccl".
  virtual std::string backend() const = 0;

  // Sums `t` element-wise over the ranks, in place. `t` is contiguous, of
  // dtype f32, f64 or i64, with the same shape on every rank.
  virtual void all_reduce_sum(Tensor& t) = 0;
  // Starts that sum; `t` must not be touched until the Pending's wait().
  virtual std::unique_ptr<Pending> all_reduce_sum_async(Tensor& t) = 0;
  // Overwrites `t` on every rank with rank `root`'s.
  virtual void broadcast(Tensor& t, int root) = 0;
  virtual void barrier() = 0;
  // Ends the processes of every rank after writing `message` to stderr (in
  // one process: throws it as an error).
  [[noreturn]] void abort(const std::string& message);

  // True on every rank when `flag` is true on any.
  bool any(bool flag);

 protected:
  // The engine's part of abort(): report and tear the ranks down; this process exits after it returns.
  virtual void end_ranks(const std::string& message) = 0;
};

// The process's communicator: world 1 until init_from_environment starts another.
Communicator& world();
// Reads the launcher's variables (see above) and makes world() the
// communicator they ask for; `device` is train.device ("cpu", "cuda:N"):
// with several ranks per machine, "cuda" means cuda:LOCAL_RANK.
Communicator& init_from_environment(const std::string& device);
// The device a rank trains on: `device` with "cuda" resolved to the local rank's GPU.
std::string rank_device(const std::string& device);
// Finalises the engines (MPI_Finalize) after a normal end; world() is world 1 again.
void shutdown();

}  // namespace cudaseg::train::dist
