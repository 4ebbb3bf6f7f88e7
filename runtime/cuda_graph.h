// CUDA graphs: the work one stream issues between begin_capture() and
// end_capture(), instantiated once and replayed with launch(). Declared in
// every build; without the CUDA backend capture throws like the rest of
// runtime/gpu.h.
//
// Capture runs in relaxed mode, so the caching allocator may still cudaMalloc
// while a capture is open (that memory is outside the graph). Work that cannot
// be captured (a stream synchronize, a synchronous copy on the capturing
// stream) fails with cudaseg::Error from the op that tried it; the caller then
// calls abort_capture() to take the stream out of capture mode.
#pragma once

#include <memory>
#include <string>

#include "runtime/gpu.h"

namespace cudaseg::gpu {

// Work a library must do on the capturing thread before a capture opens,
// because it cannot be captured or must not be done inside one: cuda/dnn.cpp
// creates the thread's cuDNN handle, so a thread whose first convolution is
// captured does not create it in the capture. begin_capture() calls every
// preparer, in registration order, with the stream's device. Registered
// from static initialisers; never removed.
using CapturePreparer = void (*)(int device);
void add_capture_preparer(CapturePreparer preparer);

class Graph {
 public:
  Graph() = default;
  // Runs the capture preparers, then starts capturing `stream`, which must
  // be a created stream (the legacy default stream cannot be captured).
  static void begin_capture(const Stream& stream);
  // Ends the capture and instantiates the graph. On failure (the capture was
  // invalidated by work that cannot be captured) returns an empty graph and
  // sets `why`.
  static Graph end_capture(const Stream& stream, std::string& why);
  // Ends a capture an error cut short; the partial graph is discarded and
  // the stream is usable again. Never throws.
  static void abort_capture(const Stream& stream);
  // True while `stream` is being captured.
  static bool capturing(const Stream& stream);

  bool valid() const { return exec_ != nullptr; }
  // Replays the graph on `stream` (asynchronously).
  void launch(const Stream& stream) const;

 private:
  std::shared_ptr<void> exec_;  // a cudaGraphExec_t
  int device_ = 0;
};

}  // namespace cudaseg::gpu
