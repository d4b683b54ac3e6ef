// A-net benchmarks (not tests): inference Mpx/s and training steps/s on this machine. Prints one
// JSON object per run; scripts/bench-anet.sh runs one configuration per process so that the
// peak memory (VmHWM) belongs to that configuration alone.
//   anet_bench infer NGF SIZE_PX THREADS REPEATS MODE      MODE: whole | tiled | auto
//   anet_bench train NGF NDF CROP_PX THREADS STEPS
//   anet_bench export-input SIZE_PX DIR          input files for anet_gpu_check
//   anet_bench compare A.f32 B.f32 WIDTH HEIGHT  MS-SSIM/SSIM/PSNR of two raw float32 images
// Weights are random (timing does not depend on them); inputs are a simulated microtubule FoV
// (sparse + widefield), so the whole inference path (normalisation, G, Q, error map) runs.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "anet/inference.hpp"
#include "anet/metrics.hpp"
#include "anet/model_file.hpp"
#include "anet/normalisation.hpp"
#include "anet/reconstructor.hpp"
#include "anet/trainer_core.hpp"
#include "anet/training_data.hpp"

using namespace annamosaic;
using namespace annamosaic::anet;
using Clock = std::chrono::steady_clock;

namespace {

double peak_rss_mb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  return 0;
}

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// A realistic input: a simulated microtubule field (sparse S and widefield L on the SR grid),
// repeated to size x size when larger than 1024 px.
std::pair<ImageF, ImageF> simulated_fov(std::size_t size) {
  SimulationOptions so;
  FieldSimulator sim(so, 20.0);
  WarpOptions plain;
  plain.rotate = false;
  plain.elastic_px = 0;
  const std::size_t f = std::min<std::size_t>(size, 1024);
  const SimulatedField field = sim.field(f, f, plain, true, 3);
  const ImageF s0 = sim.sparse(field, f, f, 5 * field.labels_inside, 4);
  const ImageF l0 = register_widefield_to(field.perfect.view(), field.widefield.view(), 20.0, 108.0);
  ImageF s(size, size), l(size, size);
  for (std::size_t y = 0; y < size; ++y)
    for (std::size_t x = 0; x < size; ++x) {
      s(x, y) = s0(x % f, y % f);
      l(x, y) = l0(x % f, y % f);
    }
  return {std::move(s), std::move(l)};
}

int infer(int ngf, std::size_t size, int threads, int repeats, const std::string& mode) {
  torch::set_num_threads(threads);
  const std::string model = (std::filesystem::temp_directory_path() / ("anet_bench_ngf" + std::to_string(ngf) + ".h5")).string();
  {
    TrainOptions o;
    o.network.ngf = ngf;
    o.network.ndf = 4;
    TrainerCore core(o, torch::kCPU);
    write_model_file(model, core.model_file({{"command", "anet_bench"}}));
  }
  const auto [s, l] = simulated_fov(size);
  ReconstructorOptions ro;
  ro.threads = threads;
  ro.mode = mode;
  ro.memory_budget_mb = 8192;
  const Reconstructor net(model, ro);
  // Warm-up (allocator, oneDNN primitives): the full size when cheap, else a 512 px crop.
  if (size <= 1024) {
    net.run(s.view(), &l, 0);
  } else {
    const ImageF s512 = to_image(s.view().region(0, 0, 512, 512)), l512 = to_image(l.view().region(0, 0, 512, 512));
    net.run(s512.view(), &l512, 0);
  }
  double best = 1e30, total = 0;
  bool tiled = false;
  std::size_t tiles = 1;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = Clock::now();
    const ReconstructionResult r = net.run(s.view(), &l, 0);
    const double dt = since(t0);
    best = std::min(best, dt);
    total += dt;
    tiled = r.tiled;
    tiles = r.tiles;
  }
  const double mpx = static_cast<double>(size * size) / 1e6;
  std::printf("{\"bench\": \"infer\", \"ngf\": %d, \"size_px\": %zu, \"threads\": %d, \"mode\": \"%s\", \"tiled\": %s, "
              "\"tiles\": %zu, \"best_s\": %.3f, \"mean_s\": %.3f, \"mpx_per_s\": %.3f, \"peak_rss_mb\": %.0f, "
              "\"estimate_mb\": %.0f}\n",
              ngf, size, threads, mode.c_str(), tiled ? "true" : "false", tiles, best, total / repeats, mpx / best,
              peak_rss_mb(), static_cast<double>(net.whole_fov_bytes(size, size)) / 1048576.0);
  std::filesystem::remove(model);
  return 0;
}

int train_steps(int ngf, int ndf, std::size_t crop, int threads, int steps) {
  torch::set_num_threads(threads);
  TrainOptions o;
  o.network.ngf = ngf;
  o.network.ndf = ndf;
  o.data.crop_px = crop;
  TrainerCore core(o, torch::kCPU);
  TrainingData data(o.data);
  for (int i = 0; i < 2; ++i) core.step(data.sample(static_cast<std::uint64_t>(i)), i + 1);  // warm-up
  double data_s = 0;
  const auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) {
    const auto td = Clock::now();
    const TrainingSample s = data.sample(static_cast<std::uint64_t>(100 + i));
    data_s += since(td);
    core.step(s, 100 + i);
  }
  const double dt = since(t0);
  std::printf("{\"bench\": \"train\", \"ngf\": %d, \"ndf\": %d, \"crop_px\": %zu, \"threads\": %d, \"steps\": %d, "
              "\"steps_per_s\": %.3f, \"data_s_per_step\": %.4f, \"peak_rss_mb\": %.0f}\n",
              ngf, ndf, crop, threads, steps, steps / dt, data_s / steps, peak_rss_mb());
  return 0;
}


// The normalised generator input of a simulated FoV, for anet_gpu_check (which has no simulator):
// input.bin = [2, H, W] float32 (S standardised, L scaled as Reconstructor::run does),
// input.txt = "H W pad_S pad_L".
int export_input(std::size_t size, const std::string& dir) {
  const auto [s, l] = simulated_fov(size);
  const Standardisation st = sparse_standardisation(s.view());
  const ImageF sn = standardise_sparse(s.view()), ln = scale_widefield(l.view(), 20.0);
  std::filesystem::create_directories(dir);
  std::ofstream bin(dir + "/input.bin", std::ios::binary);
  for (const ImageF* im : {&sn, &ln})
    for (std::size_t y = 0; y < size; ++y)
      bin.write(reinterpret_cast<const char*>(&(*im)(0, y)), static_cast<std::streamsize>(size * sizeof(float)));
  std::ofstream txt(dir + "/input.txt");
  txt.precision(9);
  txt << size << " " << size << " " << -st.mean / st.scale << " " << 0.0 << "\n";
  std::printf("wrote %s/input.bin (%zu x %zu x 2)\n", dir.c_str(), size, size);
  return bin && txt ? 0 : 1;
}

ImageF read_raw(const std::string& path, std::size_t w, std::size_t h) {
  ImageF im(w, h);
  std::ifstream in(path, std::ios::binary);
  for (std::size_t y = 0; y < h; ++y) in.read(reinterpret_cast<char*>(&im(0, y)), static_cast<std::streamsize>(w * sizeof(float)));
  if (!in) throw std::runtime_error(path + ": cannot read " + std::to_string(w) + " x " + std::to_string(h) + " float32");
  return im;
}

// Image-quality agreement of two raw float32 images in [0, 1] (anet_gpu_check's outputs).
int compare(const std::string& a_path, const std::string& b_path, std::size_t w, std::size_t h) {
  const ImageF a = read_raw(a_path, w, h), b = read_raw(b_path, w, h);
  double max_abs = 0;
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x) max_abs = std::max(max_abs, static_cast<double>(std::abs(a(x, y) - b(x, y))));
  std::printf("{\"a\": \"%s\", \"b\": \"%s\", \"one_minus_ms_ssim\": %.3g, \"one_minus_ssim\": %.3g, \"psnr_db\": %.2f, "
              "\"max_abs_diff\": %.3g}\n",
              a_path.c_str(), b_path.c_str(), 1 - ms_ssim_wang(a.view(), b.view()), 1 - ssim(a.view(), b.view()),
              psnr(a.view(), b.view()), max_abs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "";
  if (what == "infer" && argc == 7)
    return infer(std::atoi(argv[2]), static_cast<std::size_t>(std::atol(argv[3])), std::atoi(argv[4]), std::atoi(argv[5]), argv[6]);
  if (what == "train" && argc == 7)
    return train_steps(std::atoi(argv[2]), std::atoi(argv[3]), static_cast<std::size_t>(std::atol(argv[4])), std::atoi(argv[5]),
                       std::atoi(argv[6]));
  if (what == "export-input" && argc == 4) return export_input(static_cast<std::size_t>(std::atol(argv[2])), argv[3]);
  if (what == "compare" && argc == 6)
    return compare(argv[2], argv[3], static_cast<std::size_t>(std::atol(argv[4])), static_cast<std::size_t>(std::atol(argv[5])));
  std::fprintf(stderr,
               "usage: anet_bench infer NGF SIZE_PX THREADS REPEATS whole|tiled|auto\n"
               "       anet_bench train NGF NDF CROP_PX THREADS STEPS\n"
               "       anet_bench export-input SIZE_PX DIR\n"
               "       anet_bench compare A.f32 B.f32 WIDTH HEIGHT\n");
  return 1;
}
