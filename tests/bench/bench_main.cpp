// Benchmark driver for the parsing and rendering kernels; prints one JSON object per run.
// Used by bench_io.py, which times numpy/pandas on the same files in the same run.
//   annamosaic_bench parse FILE THREADS REPEATS
//   annamosaic_bench render PREFIX N WIDTH_PX HEIGHT_PX PIXEL_NM THREADS REPEATS OUT_COUNTS
//   annamosaic_bench checksum FILE REPEATS   (XXH3 as runs record it, against FNV-1a, the old one)
// PREFIX.x.f64 / PREFIX.y.f64 / PREFIX.frame.i32 are raw little-endian arrays of N values;
// OUT_COUNTS receives the uint32 histogram (row-major) for an exact comparison.
#include <sys/stat.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/checksum.hpp"
#include "loc/csv_reader.hpp"
#include "render/render.hpp"

using namespace annamosaic;
using Clock = std::chrono::steady_clock;

template <class T>
static std::vector<T> load(const std::string& path, std::size_t n) {
  std::vector<T> v(n);
  std::ifstream in(path, std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(T)))) {
    std::fprintf(stderr, "cannot read %zu values from %s\n", n, path.c_str());
    std::exit(2);
  }
  return v;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: see the header of bench_main.cpp\n");
    return 1;
  }
  const std::string mode = argv[1];
  if (mode == "checksum" && argc == 4) {
    const std::string file = argv[2];
    const int repeats = std::atoi(argv[3]);
    struct stat st {};
    stat(file.c_str(), &st);
    const auto best_of = [&](auto&& f) {
      double best = 1e30;
      for (int r = 0; r < repeats; ++r) {
        const auto t0 = Clock::now();
        f();
        best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
      }
      return best;
    };
    const double xxh3 = best_of([&] { file_checksum(file); });
    const double fnv = best_of([&] { file_checksum_as(file, "fnv1a64:"); });
    std::printf("{\"mode\":\"checksum\",\"bytes\":%lld,\"xxh3_s\":%.6f,\"fnv1a64_s\":%.6f,\"xxh3_mb_per_s\":%.1f,"
                "\"fnv1a64_mb_per_s\":%.1f,\"speedup\":%.1f}\n",
                static_cast<long long>(st.st_size), xxh3, fnv, st.st_size / xxh3 / 1e6, st.st_size / fnv / 1e6, fnv / xxh3);
    return 0;
  }
  if (mode == "parse" && argc == 5) {
    const std::string file = argv[2];
    const int threads = std::atoi(argv[3]), repeats = std::atoi(argv[4]);
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    struct stat st {};
    stat(file.c_str(), &st);
    double best = 1e30;
    std::size_t rows = 0;
    double checksum = 0;
    for (int r = 0; r < repeats; ++r) {
      const auto t0 = Clock::now();
      LocTable t = read_csv_table(file, CsvReadOptions{});
      best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
      rows = t.size();
      checksum = 0;
      for (std::size_t i = 0; i < rows; i += 997) checksum += t.x_nm[i];
    }
    std::printf("{\"mode\":\"parse\",\"rows\":%zu,\"bytes\":%lld,\"threads\":%d,\"seconds\":%.6f,\"mb_per_s\":%.1f,\"checksum\":%.6f}\n",
                rows, static_cast<long long>(st.st_size), threads, best, st.st_size / best / 1e6, checksum);
    return 0;
  }
  if (mode == "render" && argc == 10) {
    const std::string prefix = argv[2];
    const std::size_t n = std::strtoull(argv[3], nullptr, 10);
    const std::size_t W = std::strtoull(argv[4], nullptr, 10), H = std::strtoull(argv[5], nullptr, 10);
    const double px = std::atof(argv[6]);
    const int threads = std::atoi(argv[7]), repeats = std::atoi(argv[8]);
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    LocTable t;
    t.x_nm = load<double>(prefix + ".x.f64", n);
    t.y_nm = load<double>(prefix + ".y.f64", n);
    t.frame = load<std::int32_t>(prefix + ".frame.i32", n);
    const Field field{0, 0, W * px, H * px};
    double best = 1e30;
    ImageU32 img;
    RenderStats st;
    for (int r = 0; r < repeats; ++r) {
      const auto t0 = Clock::now();
      img = render_counts(t, field, RenderOptions{px, {}, 0}, &st);
      best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    }
    std::ofstream out(argv[9], std::ios::binary);
    out.write(reinterpret_cast<const char*>(img.data()), static_cast<std::streamsize>(img.size() * 4));
    std::printf("{\"mode\":\"render\",\"locs\":%zu,\"in_image\":%llu,\"threads\":%d,\"seconds\":%.6f,\"mlocs_per_s\":%.1f}\n", n,
                static_cast<unsigned long long>(st.in_image), threads, best, n / best / 1e6);
    return 0;
  }
  std::fprintf(stderr, "bad arguments\n");
  return 1;
}
