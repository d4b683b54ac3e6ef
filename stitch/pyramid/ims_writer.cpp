#include "pyramid/ims_writer.hpp"

#include <sys/stat.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "core/atomic_file.hpp"
#include "core/build_info.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "pyramid/chunk_codec.hpp"
#include "pyramid/ims_file.hpp"
#include "pyramid/metadata_text.hpp"
#include "pyramid/pyramid.hpp"

namespace annamosaic {
namespace {

using Clock = std::chrono::steady_clock;
using Bytes = std::vector<std::uint8_t>;

constexpr int kTagChunk = 1;  // rank > 0 -> rank 0: a compressed chunk
constexpr int kTagPiece = 2;  // any -> owner: raw pixels of a level-r (r >= 1) chunk, all channels
constexpr std::size_t kHeaderWords = 5;
constexpr std::size_t kHeaderBytes = kHeaderWords * sizeof(std::uint64_t);
constexpr std::size_t kMaxInflightSends = 64;

// True on the communication thread, and on a worker running part of its work: it must never wait
// for its own queue to drain.
thread_local bool t_on_comm_thread = false;

struct ChunkMsg {
  std::size_t level, channel, cy, cx;
  Bytes bytes;
};

// Byte-bounded FIFO. push() waits while more than `limit` bytes are queued (unless told not to);
// the consumer calls release() once a message's bytes are gone (written or sent).
template <class T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t limit) : limit_(limit) {}
  void set_limit(std::size_t limit) {
    std::lock_guard<std::mutex> lock(mu_);
    limit_ = limit;
  }
  void push(T item, std::size_t bytes, bool may_wait) {
    std::unique_lock<std::mutex> lock(mu_);
    if (may_wait) space_.wait(lock, [&] { return closed_ || held_ == 0 || held_ + bytes <= limit_; });
    held_ += bytes;
    items_.emplace_back(std::move(item), bytes);
    ready_.notify_one();
  }
  // Blocks until an item is available; nullopt once closed and empty.
  std::optional<std::pair<T, std::size_t>> pop() {
    std::unique_lock<std::mutex> lock(mu_);
    ready_.wait(lock, [&] { return closed_ || !items_.empty(); });
    return take(lock);
  }
  std::optional<std::pair<T, std::size_t>> try_pop() {
    std::unique_lock<std::mutex> lock(mu_);
    return take(lock);
  }
  void wait_for_item(std::chrono::microseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    ready_.wait_for(lock, d, [&] { return closed_ || !items_.empty(); });
  }
  void release(std::size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    held_ -= bytes;
    space_.notify_all();
  }
  void close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    ready_.notify_all();
    space_.notify_all();
  }
  bool idle() {
    std::lock_guard<std::mutex> lock(mu_);
    return items_.empty() && held_ == 0;
  }

 private:
  std::optional<std::pair<T, std::size_t>> take(std::unique_lock<std::mutex>&) {
    if (items_.empty()) return std::nullopt;
    auto v = std::move(items_.front());
    items_.pop_front();
    return v;
  }
  std::mutex mu_;
  std::condition_variable ready_, space_;
  std::deque<std::pair<T, std::size_t>> items_;
  std::size_t held_ = 0, limit_;
  bool closed_ = false;
};

struct OutMsg {
  int dest = 0, tag = 0;
  std::unique_ptr<Bytes> buf;  // heap-stable while MPI owns it
};

void put_header(Bytes& b, std::uint64_t a, std::uint64_t c, std::uint64_t d, std::uint64_t e, std::uint64_t f) {
  const std::uint64_t h[kHeaderWords] = {a, c, d, e, f};
  std::memcpy(b.data(), h, kHeaderBytes);
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

void check_mpi(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw std::runtime_error(std::string(what) + " failed (MPI error " + std::to_string(rc) + ")");
}

// Level-r chunk being assembled from contributions (all channels).
struct Pending {
  std::vector<std::vector<std::uint16_t>> planes;  // kChunkHeight x kChunkWidth each, zero padded
  std::atomic<std::size_t> filled{0};
  std::size_t expected = 0;
};

}  // namespace

std::string bdv_xml_path(const std::string& ims_path) {
  const auto slash = ims_path.find_last_of('/');
  const auto dot = ims_path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return ims_path + ".xml";
  return ims_path.substr(0, dot) + ".xml";
}

class ImsWriter::Impl {
 public:
  Impl(std::string path, MosaicInfo info, ImsWriterOptions opt)
      : path_(std::move(path)), info_(std::move(info)), opt_(std::move(opt)), write_queue_(1), out_queue_(1) {}
  ~Impl() { abandon(); }

  void open();
  void write_block(std::size_t bx, std::size_t by, const std::vector<ImageView<const std::uint16_t>>& channels);
  void finish();

  std::string path_;
  MosaicInfo info_;
  ImsWriterOptions opt_;
  ImsWriteStats stats_;

 private:
  using Fill = std::function<void(std::size_t channel, ImageView<std::uint16_t> dst, std::size_t x0, std::size_t y0)>;

  bool mpi() const { return nranks_ > 1; }
  int owner(std::size_t level, std::size_t cy) const {
    if (!mpi()) return 0;
    const std::size_t top_row_px = (cy * kChunkHeight) << level;  // level-0 row of the chunk's first pixel
    const std::size_t block_row = top_row_px / info_.block_px;
    if (!opt_.block_row_owner.empty()) return opt_.block_row_owner[block_row];
    return static_cast<int>(block_row % static_cast<std::size_t>(nranks_));
  }
  void validate() const;
  void count(std::size_t level, std::size_t c, ImageView<const std::uint16_t> v);
  void emit(std::size_t level, std::size_t c, std::size_t cy, std::size_t cx, Bytes bytes);
  void contribute(std::size_t level, std::size_t x0, std::size_t y0, std::size_t w, std::size_t h, const Fill& fill);
  void process_chunk(std::size_t level, std::size_t cy, std::size_t cx, std::shared_ptr<Pending> p);
  void writer_loop();
  void comm_loop();
  void handle_message(int tag, const Bytes& buf);
  bool comm_done(std::size_t inflight);
  void record_failure(const std::string& what);
  void abandon();
  std::string global_check();
  void complete_file();

  std::vector<LevelSize> levels_;
  std::size_t nc_ = 0;
  int rank_ = 0, nranks_ = 1;
  MPI_Comm comm_ = MPI_COMM_NULL, coll_ = MPI_COMM_NULL;  // point-to-point / collectives (dups)
  bool opened_ = false, finished_ = false;
  Clock::time_point t_open_;

  // rank 0
  std::unique_ptr<AtomicFile> temp_;
  std::unique_ptr<ImsFile> file_;
  BoundedQueue<ChunkMsg> write_queue_;
  std::thread writer_;
  std::mutex writer_err_mu_;
  std::string writer_error_;  // first write failure; the writer keeps draining after it
  std::atomic<std::uint64_t> queued_to_writer_{0};

  // all ranks
  BoundedQueue<OutMsg> out_queue_;
  std::thread comm_thread_;
  std::atomic<bool> stop_{false}, local_done_{false};
  std::vector<std::atomic<std::uint8_t>> block_seen_;
  std::vector<std::mutex> level_mu_;
  std::vector<std::unordered_map<std::uint64_t, std::shared_ptr<Pending>>> pending_;
  std::vector<std::unique_ptr<std::atomic<std::uint64_t>[]>> hist_;  // [level * nc + c][65536]
  std::uint64_t total_chunks_ = 0, owned_total_ = 0;
  std::atomic<std::uint64_t> owned_done_{0}, compressed_bytes_{0}, chunks_local_{0};
  std::mutex fail_mu_;
  std::string failure_;  // first processing failure on this rank
  std::atomic<bool> failed_{false};
};

void ImsWriter::Impl::validate() const {
  if (info_.width_px == 0 || info_.height_px == 0) throw std::invalid_argument(path_ + ": empty mosaic");
  if (info_.channels.empty()) throw std::invalid_argument(path_ + ": no channels");
  if (info_.block_px == 0 || info_.block_px % kChunkWidth != 0)
    throw std::invalid_argument(path_ + ": block_px " + std::to_string(info_.block_px) + " is not a multiple of 1024");
  if (!(info_.pixel_nm > 0)) throw std::invalid_argument(path_ + ": pixel_nm must be > 0");
  if (opt_.deflate_level < 1 || opt_.deflate_level > 9)
    throw std::invalid_argument(path_ + ": deflate level must be 1..9");
  for (const auto& c : info_.channels) ome_color(c.color);  // throws on a malformed colour
  if (!opt_.block_row_owner.empty() && opt_.block_row_owner.size() != info_.blocks_y())
    throw std::invalid_argument(path_ + ": block_row_owner has " + std::to_string(opt_.block_row_owner.size()) +
                                " entries for " + std::to_string(info_.blocks_y()) + " block rows");
}

void ImsWriter::Impl::open() {
  if (opened_) throw std::logic_error(path_ + ": open() called twice");
  validate();
  levels_ = plan_pyramid(info_.width_px, info_.height_px);
  nc_ = info_.channels.size();
  t_open_ = Clock::now();

  if (opt_.comm != MPI_COMM_NULL) {
    int size = 1;
    check_mpi(MPI_Comm_size(opt_.comm, &size), "MPI_Comm_size");
    if (size > 1) {
      int provided = MPI_THREAD_SINGLE;
      check_mpi(MPI_Query_thread(&provided), "MPI_Query_thread");
      int ok = provided == MPI_THREAD_MULTIPLE, all_ok = 0;
      check_mpi(MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, opt_.comm), "MPI_Allreduce");
      if (!all_ok)
        throw std::runtime_error(path_ + ": a multi-rank IMS writer needs MPI_Init_thread(MPI_THREAD_MULTIPLE)");
      check_mpi(MPI_Comm_rank(opt_.comm, &rank_), "MPI_Comm_rank");
      nranks_ = size;
      for (int o : opt_.block_row_owner)
        if (o < 0 || o >= size) throw std::invalid_argument(path_ + ": block_row_owner names rank " + std::to_string(o));
      check_mpi(MPI_Comm_dup(opt_.comm, &comm_), "MPI_Comm_dup");
      check_mpi(MPI_Comm_dup(opt_.comm, &coll_), "MPI_Comm_dup");
    }
  }

  // Bookkeeping.
  block_seen_ = std::vector<std::atomic<std::uint8_t>>(info_.blocks_x() * info_.blocks_y());
  level_mu_ = std::vector<std::mutex>(levels_.size());
  pending_.assign(levels_.size(), {});
  hist_.clear();
  for (std::size_t i = 0; i < levels_.size() * nc_; ++i) {
    hist_.emplace_back(new std::atomic<std::uint64_t>[kFullHistogramBins]);
    for (std::size_t v = 0; v < kFullHistogramBins; ++v) hist_.back()[v].store(0, std::memory_order_relaxed);
  }
  total_chunks_ = 0;
  owned_total_ = 0;
  for (std::size_t r = 0; r < levels_.size(); ++r) {
    total_chunks_ += levels_[r].chunks() * nc_;
    if (r == 0) continue;
    for (std::size_t cy = 0; cy < levels_[r].chunks_y(); ++cy)
      if (owner(r, cy) == rank_) owned_total_ += levels_[r].chunks_x();
  }
  const std::size_t queue_bytes = std::max<std::size_t>(opt_.queue_mb, 8) << 20;
  write_queue_.set_limit(queue_bytes);
  out_queue_.set_limit(queue_bytes);

  // Rank 0 creates the file; every rank learns the outcome.
  std::string error;
  if (rank_ == 0) {
    try {
      temp_ = std::make_unique<AtomicFile>(path_);
      file_ = std::make_unique<ImsFile>(path_, temp_->temp_path());
      file_->create(levels_, nc_, opt_.deflate_level);
    } catch (const std::exception& e) {
      error = e.what();
      file_.reset();
      temp_.reset();  // removes a partial temporary file
    }
  }
  if (mpi()) {
    int len = static_cast<int>(error.size());
    check_mpi(MPI_Bcast(&len, 1, MPI_INT, 0, coll_), "MPI_Bcast");
    error.resize(static_cast<std::size_t>(len));
    if (len) check_mpi(MPI_Bcast(error.data(), len, MPI_CHAR, 0, coll_), "MPI_Bcast");
  }
  if (!error.empty()) {
    if (mpi()) {
      MPI_Comm_free(&comm_);
      MPI_Comm_free(&coll_);
      nranks_ = 1;
    }
    // The message already starts with the path (IoError from ImsFile/AtomicFile).
    const std::string prefix = path_ + ": ";
    throw IoError(path_, error.compare(0, prefix.size(), prefix) == 0 ? error.substr(prefix.size()) : error);
  }
  opened_ = true;
  if (rank_ == 0) writer_ = std::thread([this] { writer_loop(); });
  if (mpi()) comm_thread_ = std::thread([this] { comm_loop(); });
  spdlog::debug("{}: {} levels, {} channels, {} chunks, rank {}/{}", path_, levels_.size(), nc_, total_chunks_, rank_,
                nranks_);
}

void ImsWriter::Impl::record_failure(const std::string& what) {
  std::lock_guard<std::mutex> lock(fail_mu_);
  if (failure_.empty()) failure_ = what;
  failed_ = true;
}

void ImsWriter::Impl::count(std::size_t level, std::size_t c, ImageView<const std::uint16_t> v) {
  // Chunk-local counts (a chunk has < 2^32 pixels), then merged: 65536 reads per 512K-pixel chunk.
  thread_local std::vector<std::uint32_t> counts(kFullHistogramBins, 0);
  count_values(v, counts.data());
  std::atomic<std::uint64_t>* g = hist_[level * nc_ + c].get();
  for (std::size_t x = 0; x < kFullHistogramBins; ++x)
    if (counts[x]) {
      g[x].fetch_add(counts[x], std::memory_order_relaxed);
      counts[x] = 0;
    }
}

void ImsWriter::Impl::emit(std::size_t level, std::size_t c, std::size_t cy, std::size_t cx, Bytes bytes) {
  compressed_bytes_ += bytes.size();
  ++chunks_local_;
  const std::size_t n = bytes.size();
  if (rank_ == 0) {
    write_queue_.push(ChunkMsg{level, c, cy, cx, std::move(bytes)}, n, true);
    ++queued_to_writer_;
    return;
  }
  auto buf = std::make_unique<Bytes>(kHeaderBytes + n);
  put_header(*buf, level, c, cy, cx, n);
  std::memcpy(buf->data() + kHeaderBytes, bytes.data(), n);
  const std::size_t total = buf->size();
  out_queue_.push(OutMsg{0, kTagChunk, std::move(buf)}, total, !t_on_comm_thread);
}

void ImsWriter::Impl::contribute(std::size_t level, std::size_t x0, std::size_t y0, std::size_t w, std::size_t h,
                                 const Fill& fill) {
  const LevelSize& L = levels_[level];
  for (std::size_t cy = y0 / kChunkHeight; cy <= (y0 + h - 1) / kChunkHeight; ++cy) {
    for (std::size_t cx = x0 / kChunkWidth; cx <= (x0 + w - 1) / kChunkWidth; ++cx) {
      const std::size_t px = std::max(x0, cx * kChunkWidth), py = std::max(y0, cy * kChunkHeight);
      const std::size_t pw = std::min(x0 + w, (cx + 1) * kChunkWidth) - px;
      const std::size_t ph = std::min(y0 + h, (cy + 1) * kChunkHeight) - py;
      const int dest = owner(level, cy);
      if (dest != rank_) {
        const std::size_t plane = pw * ph;
        auto buf = std::make_unique<Bytes>(kHeaderBytes + nc_ * plane * 2);
        put_header(*buf, level, px, py, pw, ph);
        auto* planes = reinterpret_cast<std::uint16_t*>(buf->data() + kHeaderBytes);
        for (std::size_t c = 0; c < nc_; ++c) fill(c, ImageView<std::uint16_t>(planes + c * plane, pw, ph, pw), px, py);
        const std::size_t total = buf->size();
        out_queue_.push(OutMsg{dest, kTagPiece, std::move(buf)}, total, !t_on_comm_thread);
        continue;
      }
      std::shared_ptr<Pending> p;
      const std::uint64_t key = (std::uint64_t(cy) << 32) | cx;
      {
        std::lock_guard<std::mutex> lock(level_mu_[level]);
        auto& slot = pending_[level][key];
        if (!slot) {
          slot = std::make_shared<Pending>();
          slot->planes.assign(nc_, std::vector<std::uint16_t>(kChunkWidth * kChunkHeight, 0));
          slot->expected = std::min(kChunkWidth, L.width - cx * kChunkWidth) *
                           std::min(kChunkHeight, L.height - cy * kChunkHeight);
        }
        p = slot;
      }
      // Contributions to one chunk cover disjoint pixels, so they are copied without the lock.
      for (std::size_t c = 0; c < nc_; ++c) {
        std::uint16_t* dst = p->planes[c].data() + (py - cy * kChunkHeight) * kChunkWidth + (px - cx * kChunkWidth);
        fill(c, ImageView<std::uint16_t>(dst, pw, ph, kChunkWidth), px, py);
      }
      const std::size_t before = p->filled.fetch_add(pw * ph, std::memory_order_acq_rel);
      if (before + pw * ph > p->expected)
        throw std::logic_error(path_ + ": level " + std::to_string(level) + " chunk received a pixel twice");
      if (before + pw * ph == p->expected) {
        {
          std::lock_guard<std::mutex> lock(level_mu_[level]);
          pending_[level].erase(key);
        }
        process_chunk(level, cy, cx, std::move(p));
      }
    }
  }
}

void ImsWriter::Impl::process_chunk(std::size_t level, std::size_t cy, std::size_t cx, std::shared_ptr<Pending> p) {
  const LevelSize& L = levels_[level];
  const std::size_t tw = std::min(kChunkWidth, L.width - cx * kChunkWidth);
  const std::size_t th = std::min(kChunkHeight, L.height - cy * kChunkHeight);
  auto view = [&](std::size_t c) { return ImageView<const std::uint16_t>(p->planes[c].data(), tw, th, kChunkWidth); };
  // Called on the communication thread (a piece received completed the chunk), the channels run
  // on TBB workers too: they act for that thread and must not wait for the send queue either,
  // which only that thread drains, and it waits for them here (probe46: a deadlock on ranks > 0
  // with 2+ channels once the queue filled).
  const bool for_comm_thread = t_on_comm_thread;
  tbb::parallel_for(std::size_t{0}, nc_, [&](std::size_t c) {
    const bool own = t_on_comm_thread;
    t_on_comm_thread = own || for_comm_thread;
    try {
      count(level, c, view(c));
      emit(level, c, cy, cx, encode_ims_chunk(view(c), kChunkWidth, kChunkHeight, opt_.deflate_level, opt_.encoder));
    } catch (...) {
      t_on_comm_thread = own;
      throw;
    }
    t_on_comm_thread = own;
  });
  if (level + 1 < levels_.size()) {
    const LevelSize& N = levels_[level + 1];
    const std::size_t nx0 = cx * (kChunkWidth / 2), ny0 = cy * (kChunkHeight / 2);
    if (N.width > nx0 && N.height > ny0) {
      const std::size_t nw = std::min(kChunkWidth / 2, N.width - nx0), nh = std::min(kChunkHeight / 2, N.height - ny0);
      contribute(level + 1, nx0, ny0, nw, nh, [&](std::size_t c, ImageView<std::uint16_t> dst, std::size_t x, std::size_t y) {
        downsample_2x2(view(c).region(2 * (x - nx0), 2 * (y - ny0), 2 * dst.width(), 2 * dst.height()), dst);
      });
    }
  }
  ++owned_done_;
}

void ImsWriter::Impl::write_block(std::size_t bx, std::size_t by,
                                  const std::vector<ImageView<const std::uint16_t>>& channels) {
  if (!opened_ || finished_) throw std::logic_error(path_ + ": write_block() outside open()..finish()");
  if (bx >= info_.blocks_x() || by >= info_.blocks_y())
    throw std::invalid_argument(path_ + ": block (" + std::to_string(bx) + ", " + std::to_string(by) +
                                ") outside the " + std::to_string(info_.blocks_x()) + " x " +
                                std::to_string(info_.blocks_y()) + " grid");
  if (channels.size() != nc_)
    throw std::invalid_argument(path_ + ": block has " + std::to_string(channels.size()) + " channels, expected " +
                                std::to_string(nc_));
  const std::size_t B = info_.block_px, x0 = bx * B, y0 = by * B;
  const std::size_t w = std::min(B, info_.width_px - x0), h = std::min(B, info_.height_px - y0);
  for (const auto& v : channels)
    if (v.width() != w || v.height() != h || (v.data() == nullptr))
      throw std::invalid_argument(path_ + ": block (" + std::to_string(bx) + ", " + std::to_string(by) + ") is " +
                                  std::to_string(v.width()) + " x " + std::to_string(v.height()) + ", expected " +
                                  std::to_string(w) + " x " + std::to_string(h));
  if (block_seen_[by * info_.blocks_x() + bx].exchange(1))
    throw std::invalid_argument(path_ + ": block (" + std::to_string(bx) + ", " + std::to_string(by) +
                                ") written twice");
  try {
    // Level 0: the block is a whole number of chunk columns/rows (block_px is a multiple of
    // 1024), except at the right/bottom edge where the last chunk is padded.
    const std::size_t cx0 = x0 / kChunkWidth, cy0 = y0 / kChunkHeight;
    const std::size_t ncx = (w + kChunkWidth - 1) / kChunkWidth, ncy = (h + kChunkHeight - 1) / kChunkHeight;
    tbb::parallel_for(std::size_t{0}, ncx * ncy * nc_, [&](std::size_t i) {
      const std::size_t c = i % nc_, k = i / nc_;
      const std::size_t cx = cx0 + k % ncx, cy = cy0 + k / ncx;
      const std::size_t rx = cx * kChunkWidth - x0, ry = cy * kChunkHeight - y0;
      const auto v = channels[c].region(rx, ry, std::min(kChunkWidth, w - rx), std::min(kChunkHeight, h - ry));
      count(0, c, v);
      emit(0, c, cy, cx, encode_ims_chunk(v, kChunkWidth, kChunkHeight, opt_.deflate_level, opt_.encoder));
    });
    if (levels_.size() > 1) {
      const LevelSize& N = levels_[1];
      const std::size_t nx0 = x0 / 2, ny0 = y0 / 2;
      const std::size_t nw = std::min(N.width, (x0 + w) / 2) - nx0, nh = std::min(N.height, (y0 + h) / 2) - ny0;
      if (nw && nh)
        contribute(1, nx0, ny0, nw, nh, [&](std::size_t c, ImageView<std::uint16_t> dst, std::size_t x, std::size_t y) {
          downsample_2x2(channels[c].region(2 * (x - nx0), 2 * (y - ny0), 2 * dst.width(), 2 * dst.height()), dst);
        });
    }
  } catch (const std::exception& e) {
    // Part of this block may have gone out: the mosaic cannot complete; finish() reports it on
    // every rank.
    record_failure("block (" + std::to_string(bx) + ", " + std::to_string(by) + "): " + e.what());
    throw;
  }
}

void ImsWriter::Impl::writer_loop() {
  while (auto item = write_queue_.pop()) {
    ChunkMsg& m = item->first;
    bool skip = stop_.load();  // abandoned: drop what is left
    {
      std::lock_guard<std::mutex> lock(writer_err_mu_);
      skip = skip || !writer_error_.empty();
    }
    if (!skip) {
      try {
        file_->write_chunk(m.level, m.channel, m.cy, m.cx, m.bytes);
      } catch (const std::exception& e) {
        // Keep draining so producers (and other ranks) are never stuck; finish() reports it.
        std::lock_guard<std::mutex> lock(writer_err_mu_);
        writer_error_ = e.what();
      }
    }
    m.bytes = Bytes();
    write_queue_.release(item->second);
  }
}

bool ImsWriter::Impl::comm_done(std::size_t inflight) {
  if (!local_done_ || inflight != 0 || owned_done_.load() != owned_total_ || !out_queue_.idle()) return false;
  return rank_ != 0 || queued_to_writer_.load() == total_chunks_;
}

void ImsWriter::Impl::handle_message(int tag, const Bytes& buf) {
  if (buf.size() < kHeaderBytes) throw std::runtime_error("short MPI message");
  std::uint64_t h[kHeaderWords];
  std::memcpy(h, buf.data(), kHeaderBytes);
  if (tag == kTagChunk) {
    Bytes bytes(buf.begin() + kHeaderBytes, buf.end());
    const std::size_t n = bytes.size();
    write_queue_.push(ChunkMsg{h[0], h[1], h[2], h[3], std::move(bytes)}, n, true);
    ++queued_to_writer_;
  } else if (tag == kTagPiece) {
    const std::size_t level = h[0], x0 = h[1], y0 = h[2], w = h[3], hh = h[4];
    const auto* planes = reinterpret_cast<const std::uint16_t*>(buf.data() + kHeaderBytes);
    const std::size_t plane = w * hh;
    if (buf.size() != kHeaderBytes + nc_ * plane * 2 || level == 0 || level >= levels_.size())
      throw std::runtime_error("malformed chunk piece message");
    contribute(level, x0, y0, w, hh, [&](std::size_t c, ImageView<std::uint16_t> dst, std::size_t x, std::size_t y) {
      const ImageView<const std::uint16_t> src(planes + c * plane, w, hh, w);
      const auto part = src.region(x - x0, y - y0, dst.width(), dst.height());
      for (std::size_t r = 0; r < dst.height(); ++r) std::memcpy(dst.row(r), part.row(r), dst.width() * 2);
    });
  } else {
    throw std::runtime_error("unexpected MPI tag " + std::to_string(tag));
  }
}

void ImsWriter::Impl::comm_loop() {
  t_on_comm_thread = true;
  struct Inflight {
    MPI_Request req;
    std::unique_ptr<Bytes> buf;
    std::size_t bytes;
  };
  std::vector<Inflight> inflight;
  auto idle = std::chrono::microseconds(200);
  try {
    while (!stop_) {
      bool progress = false;
      while (inflight.size() < kMaxInflightSends) {
        auto m = out_queue_.try_pop();
        if (!m) break;
        Inflight f{MPI_REQUEST_NULL, std::move(m->first.buf), m->second};
        check_mpi(MPI_Isend(f.buf->data(), static_cast<int>(f.buf->size()), MPI_BYTE, m->first.dest, m->first.tag,
                            comm_, &f.req),
                  "MPI_Isend");
        inflight.push_back(std::move(f));
        progress = true;
      }
      for (std::size_t i = 0; i < inflight.size();) {
        int done = 0;
        check_mpi(MPI_Test(&inflight[i].req, &done, MPI_STATUS_IGNORE), "MPI_Test");
        if (done) {
          out_queue_.release(inflight[i].bytes);
          inflight[i] = std::move(inflight.back());
          inflight.pop_back();
          progress = true;
        } else {
          ++i;
        }
      }
      for (;;) {
        int flag = 0;
        MPI_Message msg;
        MPI_Status st;
        check_mpi(MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_, &flag, &msg, &st), "MPI_Improbe");
        if (!flag) break;
        int n = 0;
        check_mpi(MPI_Get_count(&st, MPI_BYTE, &n), "MPI_Get_count");
        Bytes buf(static_cast<std::size_t>(n));
        check_mpi(MPI_Mrecv(buf.data(), n, MPI_BYTE, &msg, MPI_STATUS_IGNORE), "MPI_Mrecv");
        handle_message(st.MPI_TAG, buf);
        progress = true;
      }
      if (comm_done(inflight.size())) return;
      // Idle: sleep (or until something is queued here) instead of spinning in MPI, longer the
      // longer nothing happens: this thread shares the rank's cores with fusion and compression,
      // and 0.2 ms naps cost ~2,000 context switches a second (12-17% of a core in the kernel,
      // 2 ranks on 2 cores). Incoming messages then wait at most 5 ms; the queues hold seconds.
      if (progress) {
        idle = std::chrono::microseconds(200);
      } else {
        out_queue_.wait_for_item(idle);
        idle = std::min(idle * 2, std::chrono::microseconds(5000));
      }
    }
  } catch (const std::exception& e) {
    if (!stop_) {
      // Other ranks wait for what this rank can no longer deliver: abort the job, naming the rank.
      spdlog::critical("{}: rank {}: IMS writer communication failed: {}", path_, rank_, e.what());
      MPI_Abort(opt_.comm, 3);
    }
  }
  // Abandoned: let MPI finish or drop pending sends on its own; their buffers must stay valid.
  for (auto& f : inflight) {
    MPI_Request_free(&f.req);
    f.buf.release();  // deliberately leaked: MPI may still read it
  }
}

void ImsWriter::Impl::abandon() {
  stop_ = true;
  write_queue_.close();
  out_queue_.close();
  if (comm_thread_.joinable()) comm_thread_.join();
  if (writer_.joinable()) writer_.join();
  file_.reset();
  temp_.reset();  // removes the temporary file unless committed
}

std::string ImsWriter::Impl::global_check() {
  // Every block exactly once over all ranks, and no rank failed.
  std::vector<int> counts(block_seen_.size());
  for (std::size_t i = 0; i < counts.size(); ++i) counts[i] = block_seen_[i].load();
  int failed_rank = failed_ ? rank_ : nranks_;
  if (mpi()) {
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, counts.data(), static_cast<int>(counts.size()), MPI_INT, MPI_SUM, coll_),
              "MPI_Allreduce");
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, &failed_rank, 1, MPI_INT, MPI_MIN, coll_), "MPI_Allreduce");
  }
  if (failed_rank < nranks_) {
    std::string msg;
    if (failed_rank == rank_) {
      std::lock_guard<std::mutex> lock(fail_mu_);
      msg = failure_;
    }
    if (mpi()) {
      int len = static_cast<int>(msg.size());
      check_mpi(MPI_Bcast(&len, 1, MPI_INT, failed_rank, coll_), "MPI_Bcast");
      msg.resize(static_cast<std::size_t>(len));
      if (len) check_mpi(MPI_Bcast(msg.data(), len, MPI_CHAR, failed_rank, coll_), "MPI_Bcast");
      msg = "rank " + std::to_string(failed_rank) + ": " + msg;
    }
    return "writing failed: " + msg;
  }
  std::size_t missing = 0, twice = 0;
  std::string first;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 1) continue;
    (counts[i] == 0 ? missing : twice)++;
    if (first.empty())
      first = "(" + std::to_string(i % info_.blocks_x()) + ", " + std::to_string(i / info_.blocks_x()) + ")";
  }
  if (missing || twice)
    return "finish() with " + std::to_string(missing) + " of " + std::to_string(counts.size()) +
           " blocks missing and " + std::to_string(twice) + " written by several ranks (first: block " + first + ")";
  return {};
}

// Rank 0, after every chunk is written: histograms, metadata, thumbnail, close, rename, XML.
void ImsWriter::Impl::complete_file() {
  const std::size_t L = levels_.size();
  std::vector<FullHistogram> hists(L * nc_, FullHistogram(kFullHistogramBins));
  for (std::size_t i = 0; i < hists.size(); ++i)
    for (std::size_t v = 0; v < kFullHistogramBins; ++v) hists[i][v] = hist_[i][v].load();
  if (mpi()) {
    for (auto& h : hists)
      check_mpi(MPI_Reduce(rank_ == 0 ? MPI_IN_PLACE : h.data(), h.data(), static_cast<int>(h.size()), MPI_UINT64_T,
                           MPI_SUM, 0, coll_),
                "MPI_Reduce");
  }
  if (rank_ != 0) return;

  ImsMetadata meta;
  meta.info = &info_;
  meta.levels = &levels_;
  meta.histograms = &hists;
  meta.recording_date = opt_.recording_date.empty() ? utc_now() : opt_.recording_date;
  meta.description = opt_.description.empty()
                         ? "annamosaic mosaic, " + std::to_string(info_.width_px) + " x " +
                               std::to_string(info_.height_px) + " px at " + format_number(info_.pixel_nm) + " nm"
                         : opt_.description;
  meta.annamosaic_attrs = {
      {"Writer", "annamosaic " + annamosaic_version()},
      {"PyramidRule", "level r+1 pixel (x, y) = (a + b + c + d + 2) div 4 over the 2x2 block (2x..2x+1, 2y..2y+1) "
                      "of level r (mean rounded half up), computed from the stored level r"},
      {"OddSizeRule", "level r+1 is floor(W_r / 2) x floor(H_r / 2); an odd last column/row of level r is not used"},
      {"LevelRule", "levels are added until one fits a single 512 x 1024 chunk"},
      {"PaddingRule", "data sets are padded with 0 to multiples of the (1, 512, 1024) chunk; ImageSizeX/Y is the true size"},
      {"HistogramRule", "N bins over the integer values [HistogramMin, HistogramMax]: v -> floor((v - min) * N / "
                        "(max - min + 1)); min/max are the smallest/largest value of the level, padding excluded"},
      {"ColorRangeRule", "0.1 and 99.9 percentiles of level 0 (the maximum when they coincide); zeros left out when "
                         "a gap separates them from the data (an uncovered border)"},
      {"BlockPx", std::to_string(info_.block_px)},
      {"PixelNm", format_number(info_.pixel_nm)},
      {"Ranks", std::to_string(nranks_)},
      {"DeflateLevel", std::to_string(opt_.deflate_level)},
      {"DeflateEncoder", deflate_encoder_name(opt_.encoder)}};
  for (const auto& [k, v] : opt_.qc) meta.annamosaic_attrs.emplace_back("QC " + k, v);

  // Thumbnail (Imaris file browsers): the coarsest level, channels coloured and added.
  {
    const std::size_t T = 256;
    const LevelSize& top = levels_.back();
    const double scale = std::max(double(top.width) / T, double(top.height) / T);
    const std::size_t tw = std::max<std::size_t>(1, std::min(T, std::size_t(top.width / std::max(scale, 1.0))));
    const std::size_t th = std::max<std::size_t>(1, std::min(T, std::size_t(top.height / std::max(scale, 1.0))));
    std::vector<float> rgb(T * T * 3, 0.f);
    for (std::size_t c = 0; c < nc_; ++c) {
      const auto img = file_->read_level(L - 1, c, top.width, top.height);
      const FullHistogram& h0 = hists[c];
      const auto [lo16, hi16] = display_range(h0);
      const double lo = lo16, hi = std::max<double>(hi16, lo + 1);
      double col[3] = {1, 1, 1};
      std::sscanf(info_.channels[c].color.c_str(), "%lf %lf %lf", &col[0], &col[1], &col[2]);
      for (std::size_t y = 0; y < th; ++y)
        for (std::size_t x = 0; x < tw; ++x) {
          const std::size_t sx = std::min(top.width - 1, std::size_t(x * std::max(scale, 1.0)));
          const std::size_t sy = std::min(top.height - 1, std::size_t(y * std::max(scale, 1.0)));
          const double v = std::clamp((img[sy * top.width + sx] - lo) / (hi - lo), 0.0, 1.0);
          for (int k = 0; k < 3; ++k) rgb[(y * T + x) * 3 + k] += float(v * col[k]);
        }
    }
    meta.thumbnail_size = T;
    meta.thumbnail_rgba.assign(T * T * 4, 0);
    for (std::size_t i = 0; i < T * T; ++i) {
      for (int k = 0; k < 3; ++k)
        meta.thumbnail_rgba[4 * i + k] = static_cast<std::uint8_t>(std::lround(std::min(1.f, rgb[3 * i + k]) * 255));
      meta.thumbnail_rgba[4 * i + 3] = 255;
    }
  }
  file_->write_metadata(meta);
  file_->close();
  file_.reset();
  if (opt_.before_replacing) opt_.before_replacing();
  temp_->commit();
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) stats_.file_bytes = static_cast<std::uint64_t>(st.st_size);
  if (opt_.write_bdv_xml) {
    MosaicTextInfo ti;
    ti.name = info_.name;
    ti.width = info_.width_px;
    ti.height = info_.height_px;
    ti.pixel_um = info_.pixel_nm / 1000.0;
    ti.origin_x_um = info_.origin_x_um, ti.origin_y_um = info_.origin_y_um;
    for (const auto& c : info_.channels) {
      ti.channel_names.push_back(c.name);
      ti.channel_colors.push_back(c.color);
    }
    const auto slash = path_.find_last_of('/');
    write_file_atomic(bdv_xml_path(path_), bdv_xml(ti, slash == std::string::npos ? path_ : path_.substr(slash + 1)));
  }
}

void ImsWriter::Impl::finish() {
  if (!opened_) throw std::logic_error(path_ + ": finish() before open()");
  if (finished_) throw std::logic_error(path_ + ": finish() called twice");
  finished_ = true;
  local_done_ = true;
  std::string error = global_check();  // collective
  if (!error.empty()) {
    abandon();
    if (mpi()) {  // the check's outcome is the same on every rank, so this collective is reached by all
      MPI_Comm_free(&comm_);
      MPI_Comm_free(&coll_);
    }
    throw Error(path_ + ": " + error);
  }
  if (comm_thread_.joinable()) comm_thread_.join();  // all owned chunks done, all sends delivered
  if (owned_done_.load() != owned_total_)
    throw std::logic_error(path_ + ": internal: " + std::to_string(owned_total_ - owned_done_.load()) +
                           " pyramid chunks incomplete");
  int code = 0;  // 0 ok, 1 IoError, 2 other
  if (rank_ == 0) {
    write_queue_.close();
    writer_.join();
    std::lock_guard<std::mutex> lock(writer_err_mu_);
    if (!writer_error_.empty()) error = writer_error_, code = 1;
  }
  // Statistics over all ranks.
  std::uint64_t sums[2] = {compressed_bytes_.load(), chunks_local_.load()};
  if (mpi()) check_mpi(MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_UINT64_T, MPI_SUM, coll_), "MPI_Allreduce");
  stats_.compressed_bytes = sums[0];
  stats_.chunks = sums[1];
  stats_.levels = levels_.size();
  stats_.raw_bytes = stats_.chunks * kChunkWidth * kChunkHeight * 2;
  stats_.pixel_bytes = 0;
  for (const auto& l : levels_) stats_.pixel_bytes += std::uint64_t(l.width) * l.height * 2 * nc_;

  // The histogram reduction inside complete_file() is collective: every rank enters it, even
  // when rank 0 already knows the write failed.
  try {
    if (code == 0) {
      complete_file();
    } else if (mpi()) {
      std::vector<std::uint64_t> dummy(kFullHistogramBins);
      for (std::size_t i = 0; i < levels_.size() * nc_; ++i)
        check_mpi(MPI_Reduce(rank_ == 0 ? MPI_IN_PLACE : dummy.data(), dummy.data(), int(dummy.size()), MPI_UINT64_T,
                             MPI_SUM, 0, coll_),
                  "MPI_Reduce");
    }
  } catch (const IoError& e) {
    if (code == 0) error = e.what(), code = 1;
  } catch (const std::exception& e) {
    if (code == 0) error = e.what(), code = 2;
  }
  if (mpi()) {
    int head[2] = {code, static_cast<int>(error.size())};
    check_mpi(MPI_Bcast(head, 2, MPI_INT, 0, coll_), "MPI_Bcast");
    code = head[0];
    error.resize(static_cast<std::size_t>(head[1]));
    if (head[1]) check_mpi(MPI_Bcast(error.data(), head[1], MPI_CHAR, 0, coll_), "MPI_Bcast");
    check_mpi(MPI_Bcast(&stats_.file_bytes, 1, MPI_UINT64_T, 0, coll_), "MPI_Bcast");
    MPI_Comm_free(&comm_);
    MPI_Comm_free(&coll_);
  }
  stats_.seconds = std::chrono::duration<double>(Clock::now() - t_open_).count();
  if (code != 0) {
    file_.reset();
    temp_.reset();
    const std::string prefix = path_ + ": ";
    if (error.compare(0, prefix.size(), prefix) == 0) error = error.substr(prefix.size());
    if (code == 1) throw IoError(path_, error);
    throw Error(path_ + ": " + error);
  }
}

ImsWriter::ImsWriter(std::string path, MosaicInfo info, ImsWriterOptions options)
    : impl_(std::make_unique<Impl>(std::move(path), std::move(info), std::move(options))) {}
ImsWriter::~ImsWriter() = default;
void ImsWriter::open() { impl_->open(); }
void ImsWriter::write_block(std::size_t bx, std::size_t by, const std::vector<ImageView<const std::uint16_t>>& channels) {
  impl_->write_block(bx, by, channels);
}
void ImsWriter::finish() { impl_->finish(); }
const ImsWriteStats& ImsWriter::stats() const { return impl_->stats_; }
const std::string& ImsWriter::path() const { return impl_->path_; }

}  // namespace annamosaic
