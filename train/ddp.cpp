#include "train/ddp.h"

#include "nn/module.h"
#include "ops/ops.h"
#include "runtime/error.h"

namespace cudaseg::train {

GradReducer::GradReducer(const std::vector<OptimParam>& params, dist::Communicator& comm, size_t bucket_bytes)
    : comm_(comm) {
  for (const OptimParam& p : params) params_.push_back(p.tensor);
  bucket_of_.resize(params_.size());
  size_t bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const Tensor& t = params_[k];
    index_[&t.impl()] = k;
    const bool fits = !buckets_.empty() && bytes + t.nbytes() <= bucket_bytes &&
                      params_[buckets_.back().members.front()].dtype() == t.dtype() &&
                      params_[buckets_.back().members.front()].device() == t.device();
    if (!fits) {
      buckets_.emplace_back();
      bytes = 0;
    }
    buckets_.back().members.push_back(k);
    buckets_.back().numel += t.numel();
    bytes += t.nbytes();
    bucket_of_[k] = buckets_.size() - 1;
  }
}

GradReducer::~GradReducer() {
  // An exception between the start of a sum and finish() leaves requests in
  // flight; the run is ending (its error aborts every rank), so only the
  // buffers' lifetime matters: wait would block on peers that may be gone.
  for (Bucket& b : buckets_) {
    if (b.pending) static_cast<void>(b.pending.release());
  }
}

void GradReducer::begin() {
  for (Bucket& b : buckets_) {
    b.waiting = b.members.size();
    b.pending.reset();
    b.flat = Tensor();
  }
  next_start_ = 0;
}

void GradReducer::ready(const Tensor& leaf) {
  const auto it = index_.find(&leaf.impl());
  if (it == index_.end()) return;
  Bucket& b = buckets_[bucket_of_[it->second]];
  if (b.waiting > 0) --b.waiting;
  while (next_start_ < buckets_.size() && buckets_[next_start_].waiting == 0) start(buckets_[next_start_++]);
}

void GradReducer::start(Bucket& bucket) {
  const Tensor& first = params_[bucket.members.front()];
  bucket.flat = Tensor::empty({bucket.numel}, first.dtype(), first.device());
  int64_t offset = 0;
  for (size_t k : bucket.members) {
    const Tensor& p = params_[k];
    Tensor slot = bucket.flat.narrow(0, offset, p.numel()).view(p.shape());
    const Tensor g = p.grad();
    if (g.defined()) {
      slot.copy_(g);
    } else {
      slot.fill_(0.0);
    }
    offset += p.numel();
  }
  bucket.pending = comm_.all_reduce_sum_async(bucket.flat);
}

void GradReducer::finish() {
  while (next_start_ < buckets_.size()) start(buckets_[next_start_++]);
  const double inverse = 1.0 / static_cast<double>(comm_.world());
  for (Bucket& b : buckets_) {
    b.pending->wait();
    b.pending.reset();
    int64_t offset = 0;
    for (size_t k : b.members) {
      Tensor p = params_[k];
      Tensor g = p.grad();
      if (g.defined()) g.copy_(ops::mul(b.flat.narrow(0, offset, p.numel()).view(p.shape()), inverse));
      offset += p.numel();
    }
    b.flat = Tensor();
  }
}

void broadcast_state(nn::Module& module, dist::Communicator& comm, int root) {
  if (comm.world() == 1) return;
  for (auto& [name, t] : module.state_dict()) {
    if (!t.defined()) continue;
    CUDASEG_CHECK(t.is_contiguous(), "broadcast_state: ", name, " is not contiguous");
    Tensor target = t;
    comm.broadcast(target, root);
  }
}

}  // namespace cudaseg::train
