// The A-net's CUDA path on a real GPU: does CUDA inference match the CPU, and how fast is it?
// Built by the torch-only configuration (-DANNAMOSAIC_TORCH_ONLY=ON), so it runs on a GPU machine
// that has a CUDA LibTorch (a PyTorch wheel's) but no HDF5/MPI/TBB; scripts/gpu-check.sh builds
// and runs it. It drives the same functions Reconstructor uses (setup_device, place_module,
// generate_whole), i.e. the product's code, not a re-implementation.
//
//   anet_gpu_check --weights DIR --input DIR --out DIR [--repeats N] [--batch N] [--streams N]
//                  [--sizes 1024,2560] [--cpu-only]
//  --weights: net.txt + net.bin written by tests/bench/model_to_raw.py from a model file (the
//             shipped ngf-16 model); an ngf-64 generator with the authors' random init (seed 1)
//             is timed too.
//  --input:   input.txt + input.bin written by `anet_bench export-input`: one normalised
//             simulated FoV [2, H, W] (S, L), tiled to larger sizes by wrapping.
//  --out:     results.csv (one row per measurement), out_<variant>.f32 (A = (G+1)/2 of the
//             first size, raw float32, for MS-SSIM with `anet_bench compare` elsewhere).
// Equivalence: A from CUDA fp32 / tf32 / bf16 / fp16 against A from the CPU (fp32, same LibTorch):
// max and mean |difference|, PSNR. Throughput: whole FoVs through generate_whole (pinned host
// copy in, result back on the host: what a rank gets), batch 1 and batch N, channels_last
// on/off, and N FoVs in flight on N streams (ANNAMOSAIC_WITH_CUDA); plus G alone on an input
// already on the GPU; and training steps/s on CUDA with a short overfit run. Timers are wall clocks around calls that end with the result on the host
// or with torch::cuda::synchronize(), after two warm-up passes (cuDNN benchmark picks kernels).
#include <ATen/Context.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifdef ANNAMOSAIC_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include "anet/inference.hpp"
#include "anet/networks.hpp"
#include "anet/torch_util.hpp"
#include "anet/trainer_core.hpp"

using namespace annamosaic;
using namespace annamosaic::anet;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Args {
  std::string weights, input, out;
  int repeats = 5, batch = 4, streams = 4;
  std::vector<std::int64_t> sizes = {1024, 2560};
  bool cpu_only = false;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
      return argv[++i];
    };
    if (k == "--weights") a.weights = val();
    else if (k == "--input") a.input = val();
    else if (k == "--out") a.out = val();
    else if (k == "--repeats") a.repeats = std::stoi(val());
    else if (k == "--batch") a.batch = std::stoi(val());
    else if (k == "--streams") a.streams = std::stoi(val());
    else if (k == "--cpu-only") a.cpu_only = true;
    else if (k == "--sizes") {
      a.sizes.clear();
      std::stringstream ss(val());
      for (std::string t; std::getline(ss, t, ',');) a.sizes.push_back(std::stoll(t));
    } else throw std::invalid_argument("unknown argument " + k);
  }
  if (a.weights.empty() || a.input.empty() || a.out.empty()) throw std::invalid_argument("--weights, --input and --out are required");
  return a;
}

std::vector<float> read_floats(const std::string& path, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::vector<float> v(n);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float)));
  if (static_cast<std::size_t>(in.gcount()) != n * sizeof(float)) throw std::runtime_error(path + ": too short");
  return v;
}

// net.txt: "ngf N", "in_channels N", "decoder NAME", "dropout X", then "array NAME NDIM D... OFFSET".
Generator load_generator(const std::string& dir) {
  std::ifstream in(dir + "/net.txt");
  if (!in) throw std::runtime_error(dir + "/net.txt: cannot open");
  NetworkConfig cfg;
  struct Entry {
    std::string name;
    std::vector<std::int64_t> shape;
    std::size_t offset;
  };
  std::vector<Entry> entries;
  std::size_t total = 0;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::string key;
    ls >> key;
    if (key == "ngf") ls >> cfg.ngf;
    else if (key == "in_channels") ls >> cfg.in_channels;
    else if (key == "dropout") ls >> cfg.dropout;
    else if (key == "decoder") {
      std::string d;
      ls >> d;
      cfg.decoder = d == "transposed-conv" ? Decoder::TransposedConv : Decoder::ResizeConv;
    } else if (key == "array") {
      Entry e;
      int nd = 0;
      ls >> e.name >> nd;
      std::size_t n = 1;
      for (int k = 0; k < nd; ++k) {
        std::int64_t d;
        ls >> d;
        e.shape.push_back(d);
        n *= static_cast<std::size_t>(d);
      }
      ls >> e.offset;
      total = std::max(total, e.offset + n);
      entries.push_back(e);
    }
  }
  const std::vector<float> blob = read_floats(dir + "/net.bin", total);
  std::vector<NamedArray> arrays;
  for (const Entry& e : entries) {
    NamedArray a;
    a.name = e.name;
    a.shape = e.shape;
    std::size_t n = 1;
    for (auto d : e.shape) n *= static_cast<std::size_t>(d);
    a.data.assign(blob.begin() + static_cast<std::ptrdiff_t>(e.offset), blob.begin() + static_cast<std::ptrdiff_t>(e.offset + n));
    arrays.push_back(std::move(a));
  }
  Generator g(cfg);
  import_module(*g, arrays, dir + "/net.bin", "generator");
  g->eval();
  return g;
}

Generator random_generator(int ngf) {
  NetworkConfig cfg;
  cfg.ngf = ngf;
  cfg.ndf = 8;
  torch::manual_seed(1);
  Generator g(cfg);
  Discriminator d(cfg);
  LowResEstimator q(cfg);
  init_weights(g, d, q);
  g->eval();
  return g;
}

Generator copy_generator(const Generator& src) {
  Generator g(src->config());
  import_module(*g, export_module(*src), "copy", "generator");
  g->eval();
  return g;
}

struct Input {
  torch::Tensor x;  // [1, 2, H, W] CPU float
};

Input read_input(const std::string& dir) {
  std::ifstream in(dir + "/input.txt");
  if (!in) throw std::runtime_error(dir + "/input.txt: cannot open");
  std::int64_t h = 0, w = 0;
  double p0 = 0, p1 = 0;
  in >> h >> w >> p0 >> p1;
  const std::vector<float> v = read_floats(dir + "/input.bin", static_cast<std::size_t>(2 * h * w));
  Input r;
  r.x = torch::from_blob(const_cast<float*>(v.data()), {1, 2, h, w}, torch::kFloat32).clone();
  (void)p0, (void)p1;  // the padding values of older input files: padding mirrors the FoV now
  return r;
}

// The FoV wrapped to size x size (a larger field made of copies, like a mosaic of fields).
torch::Tensor tiled_to(const torch::Tensor& x, std::int64_t size) {
  const std::int64_t h = x.size(2), w = x.size(3);
  const torch::Tensor iy = torch::arange(size, torch::kLong).remainder(h);
  const torch::Tensor ix = torch::arange(size, torch::kLong).remainder(w);
  return x.index_select(2, iy).index_select(3, ix).contiguous();
}

DeviceSetup device_for(const std::string& device, const std::string& precision, bool channels_last) {
  ReconstructorOptions o;
  o.device = device;
  o.precision = precision;
  o.channels_last = channels_last;
  return setup_device(o);
}

FILE* g_csv = nullptr;
int g_failures = 0;  // variants that threw: reported as rows, and the exit status is 2

void row(const std::string& what, const std::string& model, std::int64_t size, const std::string& precision, bool cl, int batch,
         int streams, const std::string& metric, double value) {
  std::fprintf(g_csv, "%s,%s,%lld,%s,%d,%d,%d,%s,%.6g\n", what.c_str(), model.c_str(), static_cast<long long>(size),
               precision.c_str(), cl ? 1 : 0, batch, streams, metric.c_str(), value);
  std::fflush(g_csv);
  if (metric == "failed") ++g_failures;
  std::printf("  %-11s %-10s %5lld px %-5s cl=%d batch=%d streams=%d  %-16s %.6g\n", what.c_str(), model.c_str(),
              static_cast<long long>(size), precision.c_str(), cl ? 1 : 0, batch, streams, metric.c_str(), value);
  std::fflush(stdout);
}

void write_raw(const std::string& path, const torch::Tensor& a) {
  const torch::Tensor c = a.to(torch::kCPU, torch::kFloat32).contiguous();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(c.data_ptr<float>()), static_cast<std::streamsize>(c.numel() * sizeof(float)));
}

// A = (G + 1) / 2 of a [N, 1, H, W] generator output.
torch::Tensor to_a(const torch::Tensor& g) { return (g + 1) / 2; }

void compare(const std::string& model, std::int64_t size, const std::string& precision, bool cl, const torch::Tensor& a,
             const torch::Tensor& ref) {
  const torch::Tensor d = (a - ref).abs();
  const double mse = (a - ref).pow(2).mean().item<double>();
  row("equivalence", model, size, precision, cl, 1, 1, "max_abs_diff", d.max().item<double>());
  row("equivalence", model, size, precision, cl, 1, 1, "mean_abs_diff", d.mean().item<double>());
  row("equivalence", model, size, precision, cl, 1, 1, "psnr_db", mse > 0 ? 10 * std::log10(1.0 / mse) : 999.0);
}

// Mean wall seconds of `fn` over `repeats` calls after two warm-ups.
template <class F>
double timed(int repeats, F&& fn) {
  fn();
  fn();
  const auto t0 = Clock::now();
  for (int i = 0; i < repeats; ++i) fn();
  return since(t0) / repeats;
}

void throughput_variant(const std::string& model, const Generator& src, const Input& in, std::int64_t size, const Args& args,
                        const char* precision, bool cl) {
  const torch::Tensor x1 = tiled_to(in.x, size);
  const double mpx = static_cast<double>(size * size) / 1e6;
  const DeviceSetup dev = device_for("cuda", precision, cl);
  Generator g = copy_generator(src);
  place_module(*g, dev);
  torch::InferenceMode inference;
  // The product path, one FoV per call.
  const double s1 = timed(args.repeats, [&] { generate_whole(g, x1, 0, dev); });
  row("throughput", model, size, precision, cl, 1, 1, "fov_per_s", 1.0 / s1);
  row("throughput", model, size, precision, cl, 1, 1, "mpx_per_s", mpx / s1);
  // Batch N (one padded [N, 2, H, W] pass).
  const torch::Tensor xb = x1.expand({args.batch, 2, size, size}).contiguous();
  const double sb = timed(std::max(1, args.repeats / 2), [&] { generate_whole(g, xb, 0, dev); });
  row("throughput", model, size, precision, cl, args.batch, 1, "mpx_per_s", args.batch * mpx / sb);
  // G alone, input resident on the GPU (what the transfers and host copies cost is the difference).
  torch::Tensor xd = x1.to(dev.device);
  if (dev.channels_last) xd = xd.contiguous(torch::MemoryFormat::ChannelsLast);
  const torch::Tensor mt = torch::zeros({1}, torch::TensorOptions().device(dev.device));
  const double sg = timed(args.repeats, [&] {
    AutocastGuard ac(dev.autocast != torch::kFloat32, dev.autocast);
    g->forward(xd, mt);
    torch::cuda::synchronize();
  });
  row("throughput", model, size, precision, cl, 1, 1, "g_only_ms", sg * 1e3);
#ifdef ANNAMOSAIC_WITH_CUDA
  // N FoVs in flight: N host threads, each on its own stream (as Reconstructor::run does).
  if (args.streams > 1) {
    const int per = std::max(2, args.repeats);
    std::string failure;
    std::mutex failure_mutex;
    auto worker = [&](int) {
      try {
        torch::InferenceMode im;
        c10::cuda::CUDAStreamGuard sg2(c10::cuda::getStreamFromPool(false, dev.device.index()));
        for (int i = 0; i < per; ++i) generate_whole(g, x1, 0, dev);
        c10::cuda::getCurrentCUDAStream(dev.device.index()).synchronize();
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        failure = e.what();
      }
    };
    worker(0);  // warm-up on a pool stream
    const auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < args.streams; ++t) ts.emplace_back(worker, t);
    for (auto& t : ts) t.join();
    if (!failure.empty()) throw std::runtime_error("streams: " + failure);
    row("throughput", model, size, precision, cl, 1, args.streams, "mpx_per_s", args.streams * per * mpx / since(t0));
  }
#endif
}

void throughput(const std::string& model, const Generator& src, const Input& in, std::int64_t size, const Args& args) {
  struct Variant {
    const char* precision;
    bool cl;
  };
  for (const Variant v : {Variant{"fp32", false}, Variant{"fp32", true}, Variant{"tf32", true}, Variant{"bf16", false},
                          Variant{"bf16", true}, Variant{"fp16", true}}) {
    try {  // one failing variant is reported and the others still run
      throughput_variant(model, src, in, size, args, v.precision, v.cl);
    } catch (const std::exception& e) {
      std::printf("  FAILED %s %s cl=%d: %s\n", model.c_str(), v.precision, v.cl ? 1 : 0, e.what());
      row("throughput", model, size, v.precision, v.cl, 1, 1, "failed", 1);
    }
  }
}

// Training on the GPU: steps/s of the real training step (D, then Q, then G; three Adam updates)
// at 256^2 and 512^2 crops for ngf 16 and 64, strict fp32 and TF32; then 300 steps on one sample
// (ngf 16, 256^2) to show that the loss falls on CUDA as it does on the CPU (test_anet's overfit
// test). The sample: a crop of the input and, as target, the CPU reconstruction of it.
// quick: CPU smoke run of the same code (one crop, ngf 16, a few steps).
void training(const Input& in, const torch::Tensor& target01, const Args& args, const torch::Device dev, bool quick) {
  for (const std::int64_t crop : {256, 512}) {
    if (quick && crop != 256) continue;
    PreparedSample p;
    const torch::Tensor x = in.x.slice(2, 0, crop).slice(3, 0, crop).contiguous();
    p.x = x.to(dev);
    p.m = torch::zeros({1}, torch::TensorOptions().device(dev));
    p.m_plane = torch::zeros({1, 1, crop, crop}, torch::TensorOptions().device(dev));
    p.t01 = target01.slice(2, 0, crop).slice(3, 0, crop).contiguous().to(dev);
    p.wq = torch::avg_pool2d(x.slice(1, 1, 2), 4).to(dev);
    for (const int ngf : {16, 64})
      for (const bool tf32 : {false, true}) {
        if (quick && (ngf != 16 || tf32)) continue;
        try {
          if (dev.is_cuda()) {
            at::globalContext().setAllowTF32CuDNN(tf32);
            at::globalContext().setAllowTF32CuBLAS(tf32);
          }
          TrainOptions o;
          o.network.ngf = ngf;
          o.network.ndf = ngf;
          o.data.crop_px = static_cast<std::size_t>(crop);
          TrainerCore core(o, dev);
          for (int i = 0; i < 3; ++i) core.step(p, i + 1);  // warm-up (cuDNN benchmark)
          const int steps = quick ? 2 : std::max(10, 4 * args.repeats);
          if (dev.is_cuda()) torch::cuda::synchronize();
          const auto t0 = Clock::now();
          for (int i = 0; i < steps; ++i) core.step(p, 10 + i);  // each step ends with .item(): synchronised
          row("train", "ngf" + std::to_string(ngf), crop, tf32 ? "tf32" : "fp32", false, 1, 1, "steps_per_s", steps / since(t0));
        } catch (const std::exception& e) {
          std::printf("  FAILED train ngf%d crop %lld: %s\n", ngf, static_cast<long long>(crop), e.what());
          row("train", "ngf" + std::to_string(ngf), crop, tf32 ? "tf32" : "fp32", false, 1, 1, "failed", 1);
        }
      }
    if (crop != 256) continue;
    try {
      if (dev.is_cuda()) {
        at::globalContext().setAllowTF32CuDNN(false);
        at::globalContext().setAllowTF32CuBLAS(false);
      }
      TrainOptions o;
      o.network.ngf = 16;
      o.network.ndf = 16;
      o.data.crop_px = 256;
      o.lr = 5e-4;
      TrainerCore core(o, dev);
      double first = 0, last = 0;
      const int n = quick ? 20 : 300;
      for (int i = 1; i <= n; ++i) {
        const double sr = core.step(p, i).superres;
        if (i <= 10) first += sr / 10;
        if (i > n - 10) last += sr / 10;
      }
      row("overfit", "ngf16", 256, "fp32", false, 1, 1, "sr_loss_first10", first);
      row("overfit", "ngf16", 256, "fp32", false, 1, 1, "sr_loss_last10", last);
      row("overfit", "ngf16", 256, "fp32", false, 1, 1, "sr_loss_ratio", first / std::max(last, 1e-12));
    } catch (const std::exception& e) {
      std::printf("  FAILED overfit: %s\n", e.what());
      row("overfit", "ngf16", 256, "fp32", false, 1, 1, "failed", 1);
    }
  }
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args = parse(argc, argv);
  g_csv = std::fopen((args.out + "/results.csv").c_str(), "w");
  if (!g_csv) throw std::runtime_error(args.out + "/results.csv: cannot create");
  std::fprintf(g_csv, "what,model,size_px,precision,channels_last,batch,streams,metric,value\n");
  const bool cuda = torch::cuda::is_available();
  std::printf("LibTorch %s, CUDA available: %s, GPUs: %d, CPU threads: %d\n", TORCH_VERSION, cuda ? "yes" : "no",
              cuda ? static_cast<int>(torch::cuda::device_count()) : 0, torch::get_num_threads());
#ifdef ANNAMOSAIC_WITH_CUDA
  if (cuda) {
    const cudaDeviceProp* p = at::cuda::getCurrentDeviceProperties();
    std::printf("GPU 0: %s, %d SMs, %.1f GiB\n", p->name, p->multiProcessorCount, p->totalGlobalMem / 1073741824.0);
  }
#endif
  std::fflush(stdout);
  if (!cuda && !args.cpu_only) throw std::runtime_error("no CUDA device (use --cpu-only to run the CPU half)");

  const Generator trained = load_generator(args.weights);
  const Generator wide = random_generator(64);
  const Input in = read_input(args.input);
  const DeviceSetup cpu = device_for("cpu", "fp32", false);
  torch::Tensor target01;  // the CPU reconstruction of the first size (training target below)

  // 1. Equivalence: CPU fp32 reference vs every CUDA precision, same input, same weights.
  std::printf("equivalence (A = (G+1)/2 in [0,1]; reference: CPU fp32 of this LibTorch)\n");
  for (std::size_t si = 0; si < args.sizes.size(); ++si) {
    const std::int64_t size = args.sizes[si];
    const torch::Tensor x = tiled_to(in.x, size);
    for (const auto& [name, src] : {std::pair<std::string, const Generator*>{"ngf16", &trained}, {"ngf64-rand", &wide}}) {
      if (name == "ngf64-rand" && size > 1024) continue;  // the CPU reference would take minutes
      // Networks are built outside InferenceMode (parameters must not be inference tensors);
      // each pass runs inside it, as in Reconstructor::run.
      auto pass = [&](Generator& g, const DeviceSetup& dev) {
        torch::InferenceMode inference;
        return to_a(generate_whole(g, x, 0, dev));
      };
      Generator gc = copy_generator(*src);
      const auto t0 = Clock::now();
      const torch::Tensor ref = pass(gc, cpu);
      row("cpu", name, size, "fp32", false, 1, 1, "seconds", since(t0));
      if (si == 0 && name == "ngf16") {
        write_raw(args.out + "/out_cpu.f32", ref);
        target01 = ref;
      }
      if (!cuda) continue;
      for (const auto& [prec, cl] : {std::pair<std::string, bool>{"fp32", false}, {"fp32", true}, {"tf32", true}, {"bf16", true},
                                     {"fp16", true}}) {
        try {  // one failing variant is reported and the others still run
          const DeviceSetup dev = device_for("cuda", prec, cl);
          Generator g = copy_generator(*src);
          place_module(*g, dev);
          const torch::Tensor a = pass(g, dev);
          compare(name, size, prec, cl, a, ref);
          if (si == 0 && name == "ngf16" && (cl || prec != "fp32")) write_raw(args.out + "/out_cuda_" + prec + ".f32", a);
        } catch (const std::exception& e) {
          std::printf("  FAILED %s %s cl=%d: %s\n", name.c_str(), prec.c_str(), cl ? 1 : 0, e.what());
          row("equivalence", name, size, prec, cl, 1, 1, "failed", 1);
        }
      }
    }
  }
  if (!cuda) {
    training(in, target01, args, torch::kCPU, /*quick=*/true);
    std::printf("SUMMARY cpu-only run done (no CUDA), %d failures\n", g_failures);
    return g_failures ? 2 : 0;
  }
  // 2. Throughput at the largest size (a full 2560 px FoV of the paper).
  const std::int64_t big = args.sizes.back();
  std::printf("throughput at %lld px\n", static_cast<long long>(big));
  throughput("ngf16", trained, in, big, args);
  throughput("ngf64-rand", wide, in, big, args);
  std::printf("training steps (CUDA)\n");
  training(in, target01, args, torch::Device("cuda"), /*quick=*/false);
  std::fclose(g_csv);
  std::printf("SUMMARY done, %d failures: see results.csv\n", g_failures);
  return g_failures ? 2 : 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "anet_gpu_check: %s\n", e.what());
  return 1;
}
