#include "batch/dispatcher.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>

namespace annamosaic {
namespace {
constexpr int kTagRequest = 7101, kTagReply = 7102;
// Request message: [kind byte][record bytes]; kind 'N' = next please, 'S' = this rank was told to
// stop (no more items for anyone), 'F' = finished, leaving.
}  // namespace

DistributedQueue::DistributedQueue(MPI_Comm comm, std::vector<std::size_t> order,
                                   std::function<void(const std::string&)> on_record)
    : comm_(comm), order_(std::move(order)), on_record_(std::move(on_record)) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  per_rank_.assign(static_cast<std::size_t>(size_), 0);
  if (rank_ == 0 && size_ > 1) server_ = std::thread([this] { serve(); });
}

DistributedQueue::~DistributedQueue() {
  if (!finished_ && size_ > 1) {
    // An exception skipped finish(): the other ranks would wait forever for this one. Abort the
    // job with this rank's number rather than hang (STYLE: never throw past a pending collective).
    std::fprintf(stderr, "annamosaic: rank %d left the work queue on an error; aborting all ranks\n", rank_);
    MPI_Abort(comm_, abort_status_);
  }
  if (server_.joinable()) server_.join();
}

std::optional<std::size_t> DistributedQueue::pop(int rank) {
  std::lock_guard<std::mutex> lock(queue_mutex_);
  if (stop_ || cursor_ >= order_.size()) return std::nullopt;
  ++per_rank_[static_cast<std::size_t>(rank)];
  return order_[cursor_++];
}

void DistributedQueue::record(const std::string& batch) {
  if (batch.empty() || !on_record_) return;
  std::lock_guard<std::mutex> lock(record_mutex_);
  // A rank with several FoVs in flight sends its records as one newline-separated batch.
  std::size_t start = 0;
  while (start < batch.size()) {
    std::size_t nl = batch.find('\n', start);
    if (nl == std::string::npos) nl = batch.size();
    if (nl > start) {
      try {
        on_record_(batch.substr(start, nl - start));
      } catch (const std::exception& e) {
        // Thrown in the dispatcher thread it would terminate the job: kept, and the queue closes.
        if (record_error_.empty()) record_error_ = e.what();
        stop_ = true;
      }
    }
    start = nl + 1;
  }
}

void DistributedQueue::serve() {
  int remaining = size_ - 1;  // remote ranks still working
  std::vector<char> buf;
  // This thread shares rank 0's cores with its FoV work: poll often right after a request, then
  // back off to 5 ms (a request waits at most that long; a FoV takes 0.1 s to minutes). Polling
  // every 0.5 ms cost rank 0 ~1,500 context switches a second.
  auto idle = std::chrono::microseconds(200);
  while (remaining > 0) {
    MPI_Status st;
    int flag = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, kTagRequest, comm_, &flag, &st);
    if (!flag) {
      std::this_thread::sleep_for(idle);
      idle = std::min(idle * 2, std::chrono::microseconds(5000));
      continue;
    }
    idle = std::chrono::microseconds(200);
    int n = 0;
    MPI_Get_count(&st, MPI_CHAR, &n);
    buf.resize(static_cast<std::size_t>(std::max(n, 1)));
    MPI_Recv(buf.data(), n, MPI_CHAR, st.MPI_SOURCE, kTagRequest, comm_, MPI_STATUS_IGNORE);
    const char kind = n > 0 ? buf[0] : 'F';
    if (n > 1) record(std::string(buf.data() + 1, static_cast<std::size_t>(n - 1)));
    if (kind == 'F') {
      --remaining;
      continue;
    }
    // A stop signalled to one process only (scancel --signal to one task, a node's pre-emption):
    // the whole queue stops, rather than the other ranks working through it for hours.
    if (kind == 'S') stop_ = true;
    const auto item = pop(st.MPI_SOURCE);
    const long long reply = item ? static_cast<long long>(*item) : -1;
    MPI_Send(&reply, 1, MPI_LONG_LONG, st.MPI_SOURCE, kTagReply, comm_);
  }
}

std::optional<std::size_t> DistributedQueue::next(const std::string& rec) {
  if (finished_) throw std::logic_error("DistributedQueue::next after finish");
  if (rank_ == 0) {
    record(rec);
    return pop(0);
  }
  std::string msg = (stop_ ? "S" : "N") + rec;
  MPI_Send(msg.data(), static_cast<int>(msg.size()), MPI_CHAR, 0, kTagRequest, comm_);
  // Poll rather than block: a blocking receive spins a core in OpenMPI.
  MPI_Request req;
  long long reply = -1;
  MPI_Irecv(&reply, 1, MPI_LONG_LONG, 0, kTagReply, comm_, &req);
  int done = 0;
  while (true) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) break;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (reply < 0 || stop_) return std::nullopt;
  return static_cast<std::size_t>(reply);
}

void DistributedQueue::finish(const std::string& last_record) {
  if (finished_) return;
  finished_ = true;
  if (rank_ == 0) {
    record(last_record);
    if (server_.joinable()) server_.join();
  } else {
    std::string msg = "F" + last_record;
    MPI_Send(msg.data(), static_cast<int>(msg.size()), MPI_CHAR, 0, kTagRequest, comm_);
  }
  // Everyone leaves together; per-rank counts are known on rank 0 only.
  MPI_Barrier(comm_);
}

}  // namespace annamosaic
