#pragma once
// Dynamic work distribution over MPI ranks: rank 0 holds the queue (largest FoV first) and a
// dispatcher thread that answers requests; every rank, rank 0 included, pulls the next item
// when it is free. Per-FoV cost varies ~500x, so pulling beats any static split (slurm-mpi.md).
// The dispatcher polls with MPI_Test and short sleeps rather than a blocking receive: OpenMPI's
// blocking calls spin, and a spinning thread would take a core from the workers.
//
// Completion records (one JSON line per item) travel to rank 0 with the worker's next request
// and are handed to `on_record` there (in the dispatcher thread or the caller's thread; calls
// are serialised), which appends them to the manifest: one writer, no shared-file appends.
//
// Threading: needs MPI_THREAD_MULTIPLE on rank 0 only if the caller makes MPI calls while
// the queue is open; the caller must not (use finish() before any other collective).
#include <mpi.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace annamosaic {

class DistributedQueue {
 public:
  // Collective over `comm`. `order` (item indices) matters on rank 0 only.
  DistributedQueue(MPI_Comm comm, std::vector<std::size_t> order, std::function<void(const std::string&)> on_record);
  ~DistributedQueue();
  DistributedQueue(const DistributedQueue&) = delete;
  DistributedQueue& operator=(const DistributedQueue&) = delete;

  // The next item for this rank, or nullopt when there is none left (or a stop was requested).
  // `record` (may be empty) is the completion record of this rank's previous item.
  std::optional<std::size_t> next(const std::string& record = {});
  // Sends this rank's last record and leaves. Then collective: returns when every rank has left.
  void finish(const std::string& last_record = {});
  // Stop handing out items (signal received): everybody gets nullopt from now on (a rank > 0
  // tells rank 0 with its next request).
  void request_stop() { stop_ = true; }
  // Per-rank count of items handed out (valid on rank 0 after finish()).
  const std::vector<std::size_t>& items_per_rank() const { return per_rank_; }
  // The first error `on_record` threw (rank 0; empty if none). The queue caught it, so that no
  // exception leaves the dispatcher thread, and handed out no more items from then on.
  std::string record_error() const {
    std::lock_guard<std::mutex> lock(record_mutex_);
    return record_error_;
  }
  // The exit status MPI_Abort gives the job if this queue is destroyed before finish() (an
  // exception left the caller's work loop): the caller says which kind of error that was.
  void set_abort_status(int status) { abort_status_ = status; }

 private:
  std::optional<std::size_t> pop(int rank);
  void record(const std::string& r);
  void serve();
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  std::vector<std::size_t> order_;
  std::size_t cursor_ = 0;
  std::mutex queue_mutex_;
  mutable std::mutex record_mutex_;
  std::string record_error_;
  int abort_status_ = 4;
  std::function<void(const std::string&)> on_record_;
  std::atomic<bool> stop_{false};
  std::vector<std::size_t> per_rank_;
  std::thread server_;
  bool finished_ = false;
};

}  // namespace annamosaic
