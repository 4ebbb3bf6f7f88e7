// NCCL for CUDA tensors (train/dist.h): the communicator beside MPI, and the
// NCCL-only one of a torchrun-style launch with its TCP bootstrap.
#include "cudaseg_config.h"

#if CUDASEG_WITH_NCCL

#include <arpa/inet.h>
#include <cuda_runtime.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "cuda/libraries.h"
#include "runtime/error.h"
#include "runtime/gpu.h"
#include "train/dist_backends.h"

namespace cudaseg::train::dist::detail {
namespace {

void check(ncclResult_t code, const char* what) {
  CUDASEG_CHECK(code == ncclSuccess, "NCCL ", what, ": ", cuda::nccl().ncclGetErrorString(code));
}

void check_cuda(cudaError_t code, const char* what) {
  CUDASEG_CHECK(code == cudaSuccess, "CUDA ", what, ": ", cudaGetErrorString(code));
}

ncclDataType_t nccl_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::i64: return ncclInt64;
    case DType::f16: return ncclFloat16;
    default: CUDASEG_FAIL("NCCL collective: dtype ", dtype_name(dtype), " is not carried (f32, f64, f16, i64)");
  }
}

cudaStream_t stream_of(int device) { return static_cast<cudaStream_t>(gpu::Stream::current(device).handle()); }

// A descriptor that closes itself.
struct Socket {
  int fd = -1;
  explicit Socket(int f) : fd(f) {}
  ~Socket() {
    if (fd >= 0) close(fd);
  }
};

void send_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t sent = send(fd, data, n, MSG_NOSIGNAL);
    CUDASEG_CHECK(sent > 0, "NCCL bootstrap: send failed: ", std::strerror(errno));
    data += sent;
    n -= static_cast<size_t>(sent);
  }
}

void recv_all(int fd, char* data, size_t n) {
  while (n > 0) {
    const ssize_t got = recv(fd, data, n, 0);
    CUDASEG_CHECK(got > 0, "NCCL bootstrap: the connection to rank 0 closed before NCCL's id arrived");
    data += got;
    n -= static_cast<size_t>(got);
  }
}

// Rank 0 accepts one connection per peer and sends each the id.
void serve_id(const std::string& id, int peers, int port) {
  Socket server(socket(AF_INET6, SOCK_STREAM, 0));
  CUDASEG_CHECK(server.fd >= 0, "NCCL bootstrap: socket: ", std::strerror(errno));
  const int on = 1, off = 0;
  setsockopt(server.fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  setsockopt(server.fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_any;
  addr.sin6_port = htons(static_cast<uint16_t>(port));
  CUDASEG_CHECK(bind(server.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0, "NCCL bootstrap: rank 0 ",
                "cannot listen on MASTER_PORT ", port, ": ", std::strerror(errno));
  CUDASEG_CHECK(listen(server.fd, peers) == 0, "NCCL bootstrap: listen: ", std::strerror(errno));
  for (int i = 0; i < peers; ++i) {
    Socket peer(accept(server.fd, nullptr, nullptr));
    CUDASEG_CHECK(peer.fd >= 0, "NCCL bootstrap: accept: ", std::strerror(errno));
    send_all(peer.fd, id.data(), id.size());
  }
}

// The other ranks connect (retrying while rank 0 starts, up to two minutes).
std::string fetch_id(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  for (;;) {
    addrinfo* found = nullptr;
    const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
    CUDASEG_CHECK(rc == 0, "NCCL bootstrap: MASTER_ADDR '", host, "': ", gai_strerror(rc));
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      Socket s(socket(a->ai_family, a->ai_socktype, a->ai_protocol));
      if (s.fd < 0 || connect(s.fd, a->ai_addr, a->ai_addrlen) != 0) continue;
      freeaddrinfo(found);
      std::string id(NCCL_UNIQUE_ID_BYTES, '\0');
      recv_all(s.fd, id.data(), id.size());
      return id;
    }
    freeaddrinfo(found);
    CUDASEG_CHECK(std::chrono::steady_clock::now() < deadline, "NCCL bootstrap: rank 0 at ", host, ":", port,
                  " did not answer for two minutes");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// NCCL alone: host tensors are copied to the device for the collective.
class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(const std::string& id, int rank, int world, int device)
      : nccl_(id, rank, world, device), rank_(rank), world_(world) {}
  int rank() const override { return rank_; }
  int world() const override { return world_; }
  std::string backend() const override { return "nccl"; }
  void all_reduce_sum(Tensor& t) override {
    if (!t.device().is_cpu()) return nccl_.all_reduce_sum(t);
    Tensor on_device = t.to(Device::cuda(nccl_.device()));
    nccl_.all_reduce_sum(on_device);
    t.copy_(on_device);
  }
  std::unique_ptr<Pending> all_reduce_sum_async(Tensor& t) override {
    all_reduce_sum(t);
    struct Queued : Pending {
      void wait() override {}
    };
    return std::make_unique<Queued>();
  }
  void broadcast(Tensor& t, int root) override {
    if (!t.device().is_cpu()) return nccl_.broadcast(t, root);
    Tensor on_device = t.to(Device::cuda(nccl_.device()));
    nccl_.broadcast(on_device, root);
    t.copy_(on_device);
  }
  void barrier() override {
    Tensor one = Tensor::ones({1}, DType::f32, Device::cuda(nccl_.device()));
    nccl_.all_reduce_sum(one);
    gpu::synchronize(nccl_.device());
  }

 protected:
  void end_ranks(const std::string& message) override {
    std::fprintf(stderr, "rank %d of %d: %s\n", rank_, world_, message.c_str());
    std::fflush(stderr);
    // The launcher (torchrun) ends the other ranks when one exits with an error.
  }

 private:
  NcclComm nccl_;
  int rank_, world_;
};

}  // namespace

NcclComm::NcclComm(const std::string& unique_id, int rank, int world, int device) : device_(device) {
  CUDASEG_CHECK(unique_id.size() == NCCL_UNIQUE_ID_BYTES, "NCCL: a unique id has ", NCCL_UNIQUE_ID_BYTES,
                " bytes, got ", unique_id.size());
  gpu::check_device(device);
  ncclUniqueId id;
  std::memcpy(id.internal, unique_id.data(), NCCL_UNIQUE_ID_BYTES);
  check_cuda(cudaSetDevice(device), "set device");
  ncclComm_t comm = nullptr;
  check(cuda::nccl().ncclCommInitRank(&comm, world, id, rank), "init");
  comm_ = comm;
}

NcclComm::~NcclComm() {
  if (comm_ != nullptr) cuda::nccl().ncclCommDestroy(static_cast<ncclComm_t>(comm_));
}

std::string NcclComm::new_unique_id() {
  ncclUniqueId id;
  check(cuda::nccl().ncclGetUniqueId(&id), "get unique id");
  return std::string(id.internal, NCCL_UNIQUE_ID_BYTES);
}

void NcclComm::all_reduce_sum(Tensor& t) {
  CUDASEG_CHECK(t.is_contiguous() && t.device() == Device::cuda(device_), "NCCL all-reduce: the tensor must be ",
                "contiguous on cuda:", device_, ", got ", t.device().str());
  const auto& nccl = cuda::nccl();
  check(nccl.ncclAllReduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), nccl_type(t.dtype()), ncclSum,
                           static_cast<ncclComm_t>(comm_), stream_of(device_)),
        "all-reduce");
}

void NcclComm::broadcast(Tensor& t, int root) {
  CUDASEG_CHECK(t.is_contiguous() && t.device() == Device::cuda(device_), "NCCL broadcast: the tensor must be ",
                "contiguous on cuda:", device_, ", got ", t.device().str());
  const auto& nccl = cuda::nccl();
  check(nccl.ncclBroadcast(t.raw_data(), t.raw_data(), t.nbytes(), ncclUint8, root, static_cast<ncclComm_t>(comm_),
                           stream_of(device_)),
        "broadcast");
}

std::unique_ptr<Communicator> make_nccl_tcp(int rank, int world, int device, const std::string& master_addr,
                                            int master_port) {
  std::string id;
  if (rank == 0) {
    id = NcclComm::new_unique_id();
    serve_id(id, world - 1, master_port);
  } else {
    id = fetch_id(master_addr, master_port);
  }
  return std::make_unique<NcclCommunicator>(id, rank, world, device);
}

}  // namespace cudaseg::train::dist::detail

#endif  // CUDASEG_WITH_NCCL
