// write_synthetic_ims: writes a synthetic mosaic (synthetic_mosaic.hpp) through ImsWriter, the
// way fusion will: blocks row by row, several of them at once from --threads threads
// (--order random/reverse for other orders). Used by the Python checks, the crash test and the
// benchmark. Under mpiexec each rank writes its share of the blocks (--split).
//
//   write_synthetic_ims --out m.ims --width 33180 --height 33180 [--channels 3] [--block 1024]
//       [--deflate 2] [--threads N] [--order rows|reverse|random] [--split cyclic|random|halves]
//       [--abort-after N] [--gen-only] [--no-xml] [--queue-mb 256] [--seed S] [--encoder libdeflate|zlib-rle|zlib]
//       [--pin-threads]
//
// Prints one JSON line (rank 0): sizes, times, MB/s, peak RSS (max over ranks and sum), stats.
// --abort-after N: after N blocks this process kills itself with SIGKILL (crash-safety test).
// --gen-only: generate the blocks without writing (to time the generator alone).
#include <mpi.h>
#include <sys/resource.h>
#include <tbb/global_control.h>
#include <sched.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/task_scheduler_observer.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "pyramid/ims_writer.hpp"
#include "synthetic_mosaic.hpp"

using namespace annamosaic;

namespace {

struct Args {
  std::string out;
  std::size_t width = 0, height = 0, channels = 3, block = 1024, threads = 0, queue_mb = 256;
  int deflate = 2;
  std::string order = "rows", split = "cyclic";
  long abort_after = -1;
  bool gen_only = false, no_xml = false, pin = false;
  annamosaic::DeflateEncoder encoder = annamosaic::DeflateEncoder::Libdeflate;
  unsigned seed = 1;
};

[[noreturn]] void usage(const std::string& msg) {
  std::cerr << "write_synthetic_ims: " << msg << "\n";
  std::exit(1);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value for " + k);
      return argv[++i];
    };
    if (k == "--out") a.out = val();
    else if (k == "--width") a.width = std::stoul(val());
    else if (k == "--height") a.height = std::stoul(val());
    else if (k == "--channels") a.channels = std::stoul(val());
    else if (k == "--block") a.block = std::stoul(val());
    else if (k == "--threads") a.threads = std::stoul(val());
    else if (k == "--queue-mb") a.queue_mb = std::stoul(val());
    else if (k == "--deflate") a.deflate = std::stoi(val());
    else if (k == "--order") a.order = val();
    else if (k == "--split") a.split = val();
    else if (k == "--abort-after") a.abort_after = std::stol(val());
    else if (k == "--seed") a.seed = static_cast<unsigned>(std::stoul(val()));
    else if (k == "--encoder") {
      try {
        a.encoder = annamosaic::parse_deflate_encoder(val());
      } catch (const std::invalid_argument& e) {
        usage(e.what());
      }
    } else if (k == "--gen-only") a.gen_only = true;
    else if (k == "--pin-threads") a.pin = true;
    else if (k == "--no-xml") a.no_xml = true;
    else usage("unknown option " + k);
  }
  if ((a.out.empty() && !a.gen_only) || a.width == 0 || a.height == 0) usage("need --out, --width, --height");
  return a;
}

// --pin-threads: each TBB thread on its own core (thread index modulo the cores), as MPI pins
// its ranks. On a loaded machine unpinned threads of one process can get less than a core each.
class PinThreads : public tbb::task_scheduler_observer {
 public:
  PinThreads() { observe(true); }
  ~PinThreads() override { observe(false); }
  void on_scheduler_entry(bool) override {
    const int cores = std::max(1u, std::thread::hardware_concurrency());
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(tbb::this_task_arena::current_thread_index() % cores, &set);
    sched_setaffinity(0, sizeof set, &set);
  }
};

double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // KiB on Linux
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int rc = 0;
  try {
    const Args a = parse(argc, argv);
    const std::size_t threads = a.threads ? a.threads : std::max(1u, std::thread::hardware_concurrency());
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    std::unique_ptr<PinThreads> pin;
    if (a.pin) pin = std::make_unique<PinThreads>();
    const MosaicInfo info = synthetic::mosaic_info(a.width, a.height, a.channels, a.block);
    const std::size_t bx_n = info.blocks_x(), by_n = info.blocks_y();

    // Which blocks this rank writes, and in which order.
    std::vector<std::size_t> all(bx_n * by_n);
    std::iota(all.begin(), all.end(), 0);
    std::vector<int> owner(all.size());
    std::mt19937 rng(a.seed);
    for (std::size_t i = 0; i < all.size(); ++i) {
      const std::size_t by = i / bx_n;
      if (a.split == "cyclic") owner[i] = static_cast<int>(by % size);
      else if (a.split == "halves") owner[i] = static_cast<int>(by * size / by_n);
      else if (a.split == "random") owner[i] = static_cast<int>(rng() % size);
      else usage("--split must be cyclic, halves or random");
    }
    std::vector<std::size_t> mine;
    for (std::size_t i : all)
      if (owner[i] == rank) mine.push_back(i);
    if (a.order == "reverse") std::reverse(mine.begin(), mine.end());
    else if (a.order == "random") std::shuffle(mine.begin(), mine.end(), rng);
    else if (a.order != "rows") usage("--order must be rows, reverse or random");

    ImsWriterOptions opt;
    opt.deflate_level = a.deflate;
    opt.encoder = a.encoder;
    opt.queue_mb = a.queue_mb;
    opt.write_bdv_xml = !a.no_xml;
    opt.comm = size > 1 ? MPI_COMM_WORLD : MPI_COMM_NULL;
    opt.qc = {{"generator", "write_synthetic_ims"}, {"blocks", std::to_string(all.size())}};
    std::unique_ptr<ImsWriter> writer;
    if (!a.gen_only && rank == 0) {
      const auto dir = std::filesystem::path(a.out).parent_path();
      if (!dir.empty()) std::filesystem::create_directories(dir);
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (!a.gen_only) {
      writer = std::make_unique<ImsWriter>(a.out, info, opt);
      writer->open();
    }
    std::atomic<long> written{0};
    std::atomic<std::uint64_t> checksum{0};
    // Blocks in order (row by row for --order rows), pulled by `threads` loops from one counter:
    // several write_block() calls at once, as fusion makes them, without a barrier per row.
    std::atomic<std::size_t> next{0};
    tbb::parallel_for(std::size_t{0}, threads, std::size_t{1}, [&](std::size_t) {
      for (std::size_t k = next++; k < mine.size(); k = next++) {
        const std::size_t i = mine[k], bx = i % bx_n, by = i / bx_n;
        const std::size_t x0 = bx * a.block, y0 = by * a.block;
        const std::size_t w = std::min(a.block, a.width - x0), h = std::min(a.block, a.height - y0);
        std::vector<ImageU16> planes;
        std::vector<ImageView<const std::uint16_t>> views;
        for (std::size_t c = 0; c < a.channels; ++c) {
          planes.emplace_back(w, h);
          synthetic::fill(c, x0, y0, planes.back().view());
          views.push_back(planes.back().view());
        }
        if (a.gen_only) {
          checksum += planes[0](w / 2, h / 2);  // keep the generator from being optimised away
          continue;
        }
        writer->write_block(bx, by, views);
        if (a.abort_after >= 0 && ++written >= a.abort_after) {
          std::fflush(nullptr);
          ::kill(::getpid(), SIGKILL);  // a crash: no destructor, no finish
        }
      }
    });
    if (writer) writer->finish();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double rss = peak_rss_mb(), rss_max = rss, rss_sum = rss;
    MPI_Reduce(&rss, &rss_max, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    MPI_Reduce(&rss, &rss_sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) {
      const double pixels = double(a.width) * a.height;
      std::printf("{\"width\": %zu, \"height\": %zu, \"channels\": %zu, \"block\": %zu, \"ranks\": %d, \"threads\": %zu, "
                  "\"deflate\": %d, \"encoder\": \"%s\", \"gen_only\": %s, \"wall_s\": %.3f, \"gigapixels\": %.4f, \"checksum\": %llu",
                  a.width, a.height, a.channels, a.block, size, threads, a.deflate, annamosaic::deflate_encoder_name(a.encoder), a.gen_only ? "true" : "false", wall,
                  pixels / 1e9, static_cast<unsigned long long>(checksum.load()));
      if (writer) {
        const auto& s = writer->stats();
        std::printf(", \"levels\": %zu, \"chunks\": %llu, \"pixel_mb\": %.1f, \"raw_chunk_mb\": %.1f, "
                    "\"compressed_mb\": %.1f, \"file_mb\": %.1f, \"ratio\": %.3f, \"raw_mb_per_s\": %.1f, "
                    "\"compressed_mb_per_s\": %.1f",
                    s.levels, static_cast<unsigned long long>(s.chunks), s.pixel_bytes / 1e6, s.raw_bytes / 1e6,
                    s.compressed_bytes / 1e6, s.file_bytes / 1e6, double(s.pixel_bytes) / double(s.file_bytes),
                    s.pixel_bytes / 1e6 / wall, s.file_bytes / 1e6 / wall);
      }
      std::printf(", \"peak_rss_mb_max\": %.1f, \"peak_rss_mb_sum\": %.1f}\n", rss_max, rss_sum);
    }
  } catch (const std::exception& e) {
    std::cerr << "write_synthetic_ims (rank " << rank << "): " << e.what() << "\n";
    rc = 3;
    // A rank that stops before the collective finish() would leave the others waiting.
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, rc);
  }
  MPI_Finalize();
  return rc;
}
