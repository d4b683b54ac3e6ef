// Runs under mpirun with several ranks (see CMakeLists): every item is processed exactly once,
// rank 0 receives every record, and the largest items go out first.
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <set>
#include <thread>
#include <utility>

#include "batch/dispatcher.hpp"

using namespace annamosaic;

TEST(DistributedQueue, EveryItemExactlyOnceAndAllRecordsReachRankZero) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const std::size_t n = 40;
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < n; ++i) order.push_back(n - 1 - i);  // "largest first"
  std::vector<std::string> records;
  DistributedQueue q(MPI_COMM_WORLD, order, [&](const std::string& r) { records.push_back(r); });
  std::vector<std::size_t> mine;
  std::string rec;
  // Each record travels with the next request; the last one with finish().
  while (auto item = q.next(std::exchange(rec, std::string()))) {
    mine.push_back(*item);
    std::this_thread::sleep_for(std::chrono::milliseconds(1 + *item % 3));
    rec = std::to_string(*item) + "@" + std::to_string(rank);
  }
  q.finish(rec);
  // Gather every rank's items on rank 0.
  int count = static_cast<int>(mine.size());
  std::vector<int> counts(size);
  MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::vector<int> displs(size, 0);
  int total = 0;
  for (int r = 0; r < size; ++r) displs[r] = total, total += counts[r];
  std::vector<unsigned long> all(total > 0 ? total : 1);
  std::vector<unsigned long> mine_ul(mine.begin(), mine.end());
  MPI_Gatherv(mine_ul.data(), count, MPI_UNSIGNED_LONG, all.data(), counts.data(), displs.data(), MPI_UNSIGNED_LONG, 0,
              MPI_COMM_WORLD);
  if (rank == 0) {
    EXPECT_EQ(total, static_cast<int>(n));
    std::set<unsigned long> unique(all.begin(), all.begin() + total);
    EXPECT_EQ(unique.size(), n);
    EXPECT_EQ(records.size(), n);
    std::size_t handed = 0;
    for (auto c : q.items_per_rank()) handed += c;
    EXPECT_EQ(handed, n);
    if (size > 1) {
      int busy_ranks = 0;
      for (auto c : q.items_per_rank()) busy_ranks += c > 0;
      EXPECT_EQ(busy_ranks, size);  // everyone pulled work
    }
  }
}

TEST(DistributedQueue, StopHandsOutNothingMore) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  DistributedQueue q(MPI_COMM_WORLD, {0, 1, 2, 3, 4, 5, 6, 7}, nullptr);
  std::size_t got = 0;
  if (rank == 0) q.request_stop();
  while (q.next()) ++got;
  q.finish();
  if (rank == 0) {
    EXPECT_EQ(got, 0u);
  }
}

// A stop signalled to the last rank only (scancel --signal to one task): it tells rank 0, and the
// queue stops for every rank, rather than the others working through it to the end (probe47).
TEST(DistributedQueue, AStopOnAnyRankStopsTheWholeQueue) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 2) GTEST_SKIP() << "needs 2 or more ranks";
  const std::size_t n = 400;
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  DistributedQueue q(MPI_COMM_WORLD, order, nullptr);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == size - 1) q.request_stop();  // signalled before its first request
  std::size_t got = 0;
  while (q.next()) {
    ++got;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  q.finish();
  if (rank == size - 1) {
    EXPECT_EQ(got, 0u);
  }
  if (rank == 0) {
    std::size_t handed = 0;
    for (auto c : q.items_per_rank()) handed += c;
    // The others take an item every 20 ms until the stop reaches rank 0: a few, not all 400.
    EXPECT_LT(handed, n / 4) << handed;
  }
}

TEST(DistributedQueue, ARecordThatCannotBeKeptClosesTheQueueAndIsReported) {
  // Rank 0 appends every record to the manifest; when that fails (a full disk), the error must
  // not escape the dispatcher thread (std::terminate) but close the queue and be reported.
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const std::size_t n = 40;
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::size_t kept = 0;
  DistributedQueue q(MPI_COMM_WORLD, order, [&](const std::string&) {
    if (kept == 3) throw std::runtime_error("manifest.jsonl: cannot append to manifest: No space left on device");
    ++kept;
  });
  std::size_t got = 0;
  std::string rec;
  while (q.next(std::exchange(rec, std::string()))) {
    ++got;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    rec = "record";
  }
  q.finish(rec);
  if (rank == 0) {
    EXPECT_EQ(kept, 3u);
    EXPECT_NE(q.record_error().find("No space left on device"), std::string::npos) << q.record_error();
    std::size_t handed = 0;
    for (auto c : q.items_per_rank()) handed += c;
    EXPECT_LT(handed, n);  // nothing more went out once a record could not be kept
  }
}
