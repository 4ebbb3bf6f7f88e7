// The engines behind train/dist.h, each compiled only where the build found
// it (CUDASEG_WITH_MPI, CUDASEG_WITH_NCCL in cudaseg_config.h); dist.cpp
// chooses among them from the launcher's variables.
#pragma once

#include <memory>
#include <string>

#include "train/dist.h"

namespace cudaseg::train::dist::detail {

// MPI_COMM_WORLD of an mpirun launch (MPI_Init on first use). With
// `nccl_device` >= 0, CUDA tensors go over an NCCL communicator on that
// device whose unique id rank 0 broadcasts over MPI.
std::unique_ptr<Communicator> make_mpi(int nccl_device);

// NCCL alone, bootstrapped over TCP from MASTER_ADDR:MASTER_PORT (rank 0
// listens and hands each peer the unique id).
std::unique_ptr<Communicator> make_nccl_tcp(int rank, int world, int device, const std::string& master_addr,
                                            int master_port);

// NCCL's part of a communicator: one ncclComm_t on `device`.
class NcclComm {
 public:
  // `unique_id` is ncclGetUniqueId's 128 bytes, the same on every rank.
  NcclComm(const std::string& unique_id, int rank, int world, int device);
  ~NcclComm();
  static std::string new_unique_id();
  void all_reduce_sum(Tensor& t);
  void broadcast(Tensor& t, int root);
  int device() const { return device_; }

 private:
  void* comm_ = nullptr;  // ncclComm_t
  int device_;
};

}  // namespace cudaseg::train::dist::detail
