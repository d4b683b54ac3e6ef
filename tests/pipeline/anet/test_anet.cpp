// The A-net in LibTorch: networks, losses, training step, model file, inference.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "anet/augment.hpp"
#include "anet/evaluation.hpp"
#include "anet/inference.hpp"
#include "anet/losses.hpp"
#include "anet/metrics.hpp"
#include "anet/model_file.hpp"
#include "anet/networks.hpp"
#include "anet/normalisation.hpp"
#include "anet/reconstructor.hpp"
#include "anet/torch_util.hpp"
#include "anet/trainer_core.hpp"
#include "anet/training_data.hpp"
#include "core/error.hpp"
#include "imageio/tiff_io.hpp"
#include "register/widefield_registration.hpp"
#include "sim/campaign.hpp"

using namespace annamosaic;
using namespace annamosaic::anet;
namespace fs = std::filesystem;

namespace {

const std::string kFixtures = ANNAMOSAIC_ANET_FIXTURES;
const std::string kTmp = ANNAMOSAIC_TEST_TMP;
const std::string kShippedModel = ANNAMOSAIC_ANET_SHIPPED_MODEL;

std::map<std::string, double> reference_values() {
  std::map<std::string, double> v;
  std::ifstream in(kFixtures + "/reference_values.txt");
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    std::string k;
    double x;
    s >> k >> x;
    v[k] = x;
  }
  return v;
}

torch::Tensor as4d(const ImageF& im) {
  return image_to_tensor(im.view()).reshape({1, 1, static_cast<std::int64_t>(im.height()), static_cast<std::int64_t>(im.width())});
}

TrainOptions tiny_options(std::size_t crop = 256) {
  TrainOptions o;
  o.network.ngf = 4;
  o.network.ndf = 4;
  o.network.q_nf = 4;
  o.data.crop_px = crop;
  o.data.seed = 3;
  o.seed = 3;
  return o;
}

std::string tmp_dir(const std::string& name) {
  const std::string d = kTmp + "/" + name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

}  // namespace

// ---------------------------------------------------------------- networks

// The widefield's smooth floor goes before the min-max: a flat background changes nothing, a
// vignetted background alone no longer spans [0, 1] as if it were structure.
TEST(AnetNormalisation, WidefieldFloorKeepsStructureAndDropsVignetting) {
  const std::size_t n = 400;  // 43 um at 108 nm (blocks of 16 px: a camera field's scale)
  ImageF flat_bg(n, n), vignetted(n, n), vignetted_bg(n, n);
  for (std::size_t y = 0; y < n; ++y)
    for (std::size_t x = 0; x < n; ++x) {
      const double r2 = (std::pow(x - n / 2.0, 2) + std::pow(y - n / 2.0, 2)) / (n * n / 2.0);
      const float line = std::abs(static_cast<double>(x) - y) < 4 ? 50.0f : 0.0f;  // a filament on the diagonal
      flat_bg(x, y) = 100 + line;
      vignetted_bg(x, y) = static_cast<float>(100 * (1 - 0.2 * r2));
      vignetted(x, y) = vignetted_bg(x, y) + line;
    }
  const ImageF plain = scale_widefield(flat_bg.view(), 0), floored = scale_widefield(flat_bg.view(), 108);
  for (std::size_t i = 0; i < plain.size(); ++i) ASSERT_NEAR(plain.data()[i], floored.data()[i], 1e-5) << i;
  // The vignetted image: the background's corner-to-centre ramp is gone, the filament stays at 1.
  const ImageF v = scale_widefield(vignetted.view(), 108), v_plain = scale_widefield(vignetted.view(), 0);
  EXPECT_NEAR(v(200, 200), 1.0f, 0.05f);
  EXPECT_LT(v(350, 50), 0.1f);           // background near a corner ...
  EXPECT_LT(v(200, 150), 0.1f);          // ... and near the centre, off the filament
  EXPECT_GT(v_plain(200, 150), 0.25f);   // without the floor: a bright disc
  // Background alone: plain min-max makes the vignetting a disc of full brightness.
  EXPECT_GT(scale_widefield(vignetted_bg.view(), 0)(200, 200), 0.99f);
}

TEST(AnetNetworks, ReferenceParameterCounts) {
  // anet.md: ngf 64, 2 input channels. G with the authors' switch parameters (ours sit after the
  // norm, same count), D with 4 input channels, Q with 8/16/32 channels.
  const ParameterCounts c = parameter_counts(NetworkConfig{});
  EXPECT_EQ(c.generator, 39158464);
  EXPECT_EQ(c.discriminator, 2766592);
  EXPECT_EQ(c.estimator, 17153);
  EXPECT_EQ(c.generator + c.discriminator + c.estimator, 41942209);  // "roughly 42 million"
  NetworkConfig t;
  t.decoder = Decoder::TransposedConv;
  EXPECT_EQ(parameter_counts(t).generator, 54412864);  // the pix2pix decoder: 54.4 M
}

TEST(AnetNetworks, ShapesAndRanges) {
  torch::manual_seed(1);
  NetworkConfig cfg;
  cfg.ngf = 4;
  cfg.ndf = 4;
  Generator g(cfg);
  Discriminator d(cfg);
  LowResEstimator q(cfg);
  Discriminator dd(cfg);
  init_weights(g, dd, q);
  g->eval();  // no dropout
  q->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({2, 2, 256, 512});
  const torch::Tensor y = g->forward(x, torch::tensor({0.0f, 1.0f}));
  EXPECT_EQ(y.sizes(), (std::vector<std::int64_t>{2, 1, 256, 512}));
  EXPECT_LE(y.abs().max().item<float>(), 1.0f);
  const torch::Tensor qy = q->forward(y);
  EXPECT_EQ(qy.sizes(), (std::vector<std::int64_t>{2, 1, 64, 128}));
  EXPECT_GE(qy.min().item<float>(), 0.0f);
  EXPECT_LE(qy.max().item<float>(), 1.0f);
  // PatchGAN: (30 m)^2 for 256 m (anet.md), 62 x 62 for 512.
  EXPECT_EQ(d->forward(torch::randn({1, 4, 256, 256})).sizes(), (std::vector<std::int64_t>{1, 1, 30, 30}));
  EXPECT_EQ(d->forward(torch::randn({1, 4, 512, 512})).sizes(), (std::vector<std::int64_t>{1, 1, 62, 62}));
  EXPECT_THROW(g->forward(torch::randn({1, 2, 300, 256}), torch::zeros({1})), std::invalid_argument);
  EXPECT_THROW(g->forward(torch::randn({1, 3, 256, 256}), torch::zeros({1})), std::invalid_argument);
  // Per-image normalisation: an image's output does not depend on the other images of a batch.
  const torch::Tensor single = g->forward(x.slice(0, 1, 2), torch::tensor({1.0f}));
  EXPECT_LT((single - y.slice(0, 1, 2)).abs().max().item<float>(), 1e-5f);
}

// In inference the full-resolution step runs over bands of rows (less memory): the same output
// as the one-pass step that training uses, for both decoders.
TEST(AnetNetworks, BandedFinalStepEqualsOnePass) {
  for (Decoder dec : {Decoder::ResizeConv, Decoder::TransposedConv}) {
    torch::manual_seed(3);
    NetworkConfig cfg;
    cfg.ngf = 4;
    cfg.decoder = dec;
    Generator g(cfg);
    Discriminator dd(cfg);
    LowResEstimator q(cfg);
    init_weights(g, dd, q);
    g->eval();
    const torch::Tensor x = torch::randn({1, 2, 768, 512});
    ASSERT_TRUE(torch::GradMode::is_enabled());  // the one-pass path (as in training)
    const torch::Tensor one_pass = g->forward(x, torch::zeros({1})).detach();
    torch::Tensor banded;
    {
      torch::InferenceMode inference;
      banded = g->forward(x, torch::zeros({1}));
    }
    ASSERT_EQ(banded.sizes(), one_pass.sizes());
    EXPECT_LT((banded - one_pass).abs().max().item<float>(), 1e-5f) << static_cast<int>(dec);
  }
}

// Q on a large field runs in bands of rows: its per-image norms see the whole field's statistics,
// so the output is the one-pass output, at the field's edges and across band seams alike.
TEST(AnetNetworks, LowResEstimatorInBandsEqualsOnePass) {
  torch::manual_seed(5);
  NetworkConfig cfg;
  Generator g(cfg);
  Discriminator d(cfg);
  LowResEstimator q(cfg);
  init_weights(g, d, q);
  q->eval();
  torch::InferenceMode inference;
  // A structured input (bright lines on -1), not noise alone: the norms' statistics then differ by band.
  torch::Tensor x = torch::full({1, 1, 300, 172}, -1.0f);
  x.slice(2, 40, 44).fill_(1.0f);
  x.slice(3, 100, 103).fill_(0.5f);
  x += 0.1f * torch::randn({1, 1, 300, 172});
  const torch::Tensor one_pass = q->forward(x);
  for (std::int64_t rows : {4, 12, 64, 296, 300, 400}) {
    const torch::Tensor banded = q->forward_in_bands(x, rows);
    ASSERT_EQ(banded.sizes(), one_pass.sizes()) << rows;
    EXPECT_LT((banded - one_pass).abs().max().item<float>(), 2e-5f) << "bands of " << rows << " rows";
  }
  EXPECT_THROW(q->forward_in_bands(x, 6), std::invalid_argument);                            // off the pooling grid
  EXPECT_THROW(q->forward_in_bands(x.slice(2, 0, 298), 64), std::invalid_argument);           // H not a multiple of 4
}

TEST(AnetNetworks, SwitchChangesTheOutput) {
  torch::manual_seed(2);
  NetworkConfig cfg;
  cfg.ngf = 4;
  cfg.ndf = 4;
  Generator g(cfg);
  Discriminator d(cfg);
  LowResEstimator q(cfg);
  init_weights(g, d, q);
  g->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({1, 2, 256, 256});
  EXPECT_GT((g->forward(x, torch::tensor({0.0f})) - g->forward(x, torch::tensor({1.0f}))).abs().max().item<float>(), 1e-3f);
}

// ---------------------------------------------------------------- losses

TEST(AnetLosses, AuthorsMsSsimMapMatchesNumpyReference) {
  const auto ref = reference_values();
  const ImageF a = read_tiff(kFixtures + "/small_a.tif"), b = read_tiff(kFixtures + "/small_b.tif");
  const ImageF want = read_tiff(kFixtures + "/authors_msssim_map.tif");
  const torch::Tensor map = msssim_map(as4d(a), as4d(b));
  const torch::Tensor diff = (map - as4d(want)).abs();
  EXPECT_LT(diff.max().item<float>(), 2e-4f);
  EXPECT_NEAR(map.mean().item<double>(), ref.at("authors_msssim_mean"), 1e-5);
  EXPECT_NEAR(gaussian_l1_map(as4d(a), as4d(b)).mean().item<double>(), ref.at("gaussian_l1_mean"), 1e-6);
  // Identical images: the map is 1 everywhere, the loss 0.
  EXPECT_LT((msssim_map(as4d(a), as4d(a)) - 1).abs().max().item<float>(), 1e-4f);
  EXPECT_LT(superres_loss(as4d(a), as4d(a)).item<float>(), 1e-4f);
}

TEST(AnetLosses, FftSizesHaveOnlySmallPrimeFactors) {
  EXPECT_EQ(fft_friendly_size(724), 729);  // a 2765 px FoV's Q grid + 32: 4 x 181 -> 3^6
  EXPECT_EQ(fft_friendly_size(157), 160);  // a 500 px FoV's: prime -> 2^5 x 5
  EXPECT_EQ(fft_friendly_size(288), 288);  // a 256 px training crop's: already 2^5 x 3^2
  EXPECT_EQ(fft_friendly_size(1), 1);
}

TEST(AnetLosses, FilteringOnAwkwardSizesEqualsTheDirectConvolution) {
  // 45 x 61 pads to 80 x 96 instead of 77 x 93: still the zero-padded linear convolution.
  torch::manual_seed(3);
  const torch::Tensor a = torch::rand({1, 1, 45, 61}), b = torch::rand({1, 1, 45, 61});
  std::vector<float> g(33);
  float sum = 0;
  for (int i = 0; i < 33; ++i) sum += g[i] = std::exp(-0.5f * static_cast<float>((i - 16) * (i - 16)) / 64.0f);
  const torch::Tensor g1 = torch::tensor(g) / sum;
  const torch::Tensor kernel = torch::outer(g1, g1).reshape({1, 1, 33, 33});
  const torch::Tensor direct = torch::conv2d((a - b).abs(), kernel, {}, 1, 16);
  EXPECT_LT((gaussian_l1_map(a, b) - direct).abs().max().item<float>(), 1e-6f);
}

TEST(AnetLosses, SmallImagesKeepTheirSize) {
  // Q's grid of a 64 px crop is 16 px: windows shrink (odd) and the map keeps the input size.
  const torch::Tensor a = torch::rand({1, 1, 16, 16}), b = torch::rand({1, 1, 16, 16});
  EXPECT_EQ(msssim_map(a, b).sizes(), a.sizes());
  EXPECT_EQ(error_map(a, b).sizes(), a.sizes());
}

// ---------------------------------------------------------------- training

// A validation whose outputs are blank (scoring as a blank image, little lit) or flat (one value
// everywhere: blown up to white) is a diverged generator's, never kept as the best model.
TEST(AnetTraining, BlankOrFlatValidationOutputsAreADivergedGenerators) {
  EXPECT_EQ(degenerate_output(0.18, 0.175, 0.1, 0.0), DegenerateOutput::kBlank);
  EXPECT_EQ(degenerate_output(0.1877, 0.1775, 10.0, 0.0), DegenerateOutput::kFlat);  // probe93: every pixel 1
  EXPECT_EQ(degenerate_output(0.50, 0.1775, 3.0, 0.01), DegenerateOutput::kFlat);
  EXPECT_EQ(degenerate_output(0.18, 0.175, 0.9, 0.8), DegenerateOutput::kNone);  // near the blank score, but lit
  EXPECT_EQ(degenerate_output(0.60, 0.175, 1.0, 0.9), DegenerateOutput::kNone);
}

TEST(AnetTraining, GradientsReachEveryParameter) {
  // 512 px so that e8 is 2 x 2 (at 256 px it is 1 x 1, where its norm's scale has no gradient
  // by construction); switch id 1 so that the switch weights matter.
  TrainOptions o = tiny_options(512);
  TrainerCore core(o, torch::kCPU);
  TrainingData data(o.data);
  TrainingSample s;
  for (std::uint64_t i = 0; s.widefield.empty() || s.localizations == 0; ++i) s = data.sample(i);
  s.switch_id = 1;
  const PreparedSample p = core.prepare(s);
  ASSERT_TRUE(p.wq.defined());
  const torch::Tensor t_pm = p.t01 * 2 - 1;
  const torch::Tensor cond = torch::cat({p.x, p.m_plane}, 1);
  auto check = [](torch::nn::Module& m, const std::string& net) {
    for (const auto& prm : m.named_parameters()) {
      ASSERT_TRUE(prm.value().grad().defined()) << net << " " << prm.key();
      EXPECT_GT(prm.value().grad().abs().sum().item<double>(), 0.0) << net << " " << prm.key() << " has zero gradient";
    }
  };
  {
    const torch::Tensor a = core.g->forward(p.x, p.m);
    const torch::Tensor lg = 50 * superres_loss((a + 1) / 2, p.t01) + 25 * (1 - msssim_map(core.q->forward(a), p.wq)).mean() +
                             lsgan_real(core.d->forward(torch::cat({cond, a}, 1)));
    lg.backward();
    check(*core.g, "G");
  }
  core.d->zero_grad();
  (lsgan_real(core.d->forward(torch::cat({cond, t_pm}, 1))) + lsgan_fake(core.d->forward(torch::cat({cond, t_pm * 0.5}, 1)))).backward();
  check(*core.d, "D");
  core.q->zero_grad();
  (1 - msssim_map(core.q->forward(t_pm), p.wq)).mean().backward();
  check(*core.q, "Q");
}

TEST(AnetTraining, OneSampleCanBeOverfitted) {
  // The generator and the super-resolution loss on one fixed 256 px sample, no dropout.
  TrainOptions o = tiny_options(256);
  o.network.ngf = 8;
  o.network.dropout = 0;
  TrainerCore core(o, torch::kCPU);
  TrainingData data(o.data);
  TrainingSample s;
  for (std::uint64_t i = 0; s.localizations < 2000; ++i) s = data.sample(i);
  const PreparedSample p = core.prepare(s);
  Adam adam(core.g->parameters(), 2e-3, 0.5, 0.999);
  double first = 0, last = 0;
  const int steps = 150;
  for (int i = 0; i < steps; ++i) {
    adam.zero_grad();
    const torch::Tensor loss = superres_loss((core.g->forward(p.x, p.m) + 1) / 2, p.t01);
    loss.backward();
    adam.step();
    if (i == 0) first = loss.item<double>();
    last = loss.item<double>();
  }
  std::cout << "overfit: L_SuperRes " << first << " -> " << last << " in " << steps << " steps (x" << first / last << ")\n";
  RecordProperty("loss_ratio", std::to_string(first / last));
  EXPECT_GT(first / last, 10.0);
}

TEST(AnetTraining, ResumeContinuesExactly) {
  const std::string a = tmp_dir("resume_a"), b = tmp_dir("resume_b");
  TrainOptions o = tiny_options(256);
  o.steps = 4;
  o.checkpoint_every = 2;
  o.validate_every = 2;
  o.validation_samples = 1;
  o.threads = 1;
  o.checkpoint_dir = a;
  train(o);
  o.checkpoint_dir = b;
  o.steps = 2;
  train(o);
  o.steps = 4;
  o.resume = true;
  const TrainSummary r = train(o);
  EXPECT_EQ(r.first_step, 2);
  const ModelFile fa = read_model_file(a + "/checkpoint.h5"), fb = read_model_file(b + "/checkpoint.h5");
  EXPECT_EQ(fa.scalars.at("step"), 4);
  ASSERT_EQ(fa.groups.size(), fb.groups.size());
  for (const auto& [name, arrays] : fa.groups) {
    const auto& other = fb.groups.at(name);
    ASSERT_EQ(arrays.size(), other.size());
    for (std::size_t i = 0; i < arrays.size(); ++i) EXPECT_EQ(arrays[i].data, other[i].data) << name << "/" << arrays[i].name;
  }
  EXPECT_EQ(fa.scalars.at("best_score"), fb.scalars.at("best_score"));
  // A checkpoint of another recipe is refused with the difference named.
  o.network.ngf = 8;
  try {
    train(o);
    FAIL() << "resume with another ngf must fail";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("ngf 4 but the configuration says 8"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------- data

TEST(AnetData, SamplesAreReproducibleAndComplete) {
  DataOptions o;
  o.seed = 5;
  TrainingData data(o);
  for (std::uint64_t i = 0; i < 6; ++i) {
    const TrainingSample s1 = data.sample(i), s2 = data.sample(i);
    ASSERT_EQ(s1.sparse.size(), 256u * 256u);
    EXPECT_TRUE(std::equal(s1.sparse.begin(), s1.sparse.end(), s2.sparse.begin()));
    EXPECT_TRUE(std::equal(s1.target.begin(), s1.target.end(), s2.target.begin()));
    EXPECT_EQ(s1.widefield.empty(), s2.widefield.empty());
    if (!s1.widefield.empty()) {
      EXPECT_EQ(s1.widefield.width(), 256u);
    }
  }
  EXPECT_THROW({ DataOptions bad; bad.crop_px = 300; TrainingData t(bad); }, InputError);
}

TEST(AnetData, WarpRoundTripAndPointBinning) {
  WarpOptions wo;
  wo.elastic_px = 3;
  const Warp w(256, 256, 1000.5, 2000.25, wo, 9);
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> u(0, 256);
  std::vector<double> xs, ys;
  for (int i = 0; i < 200; ++i) {
    const double x = u(rng), y = u(rng);
    double sx, sy, bx, by;
    w.to_source(x, y, sx, sy);
    w.to_crop(sx, sy, bx, by);
    EXPECT_NEAR(bx, x, 1e-3);
    EXPECT_NEAR(by, y, 1e-3);
    if (x > 1 && y > 1 && x < 255 && y < 255) {
      xs.push_back(sx);
      ys.push_back(sy);
    }
  }
  const ImageF binned = warp_points(xs, ys, w);
  double total = 0;
  for (float v : binned) total += v;
  EXPECT_EQ(total, static_cast<double>(xs.size()));  // whole counts, none lost or smeared
}

TEST(AnetData, TablesFromACampaignWithRegisteredWidefield) {
  const std::string dir = tmp_dir("campaign");
  CampaignOptions c;
  c.grid.rows = 1;
  c.grid.cols = 2;
  c.grid.fov_um = 12;
  c.grid.jitter_um = 0;
  c.specimen.cell_fraction = 1.0;
  c.specimen.cell_radius_um = 200;  // one big cell over the whole grid
  c.specimen.filaments_per_100um2 = 25;
  c.specimen.gradient = 0;
  c.blinking.frames = 1000;
  c.seed = 4;
  simulate_campaign(c, dir);
  DataOptions o;
  o.source = "tables";
  for (const char* id : {"0000", "0001"})
    o.tables.push_back({dir + "/fov/" + id + "/locs.csv", dir + "/fov/" + id + "/widefield.tif", "3-5", 0, 0});
  o.p_no_widefield = 0;
  o.p_no_sparse = 0;
  TrainingData data(o);
  const TrainingSample s = data.sample(0);
  ASSERT_FALSE(s.widefield.empty());
  double ns = 0, nt = 0;
  for (float v : s.sparse) ns += v;
  for (float v : s.target) nt += v;
  // S: 300-500 of 1000 frames; T: 95% of the frames (background counts added to S are few).
  EXPECT_GT(nt, 1.5 * ns);
  EXPECT_GT(ns, 0);
}

TEST(AnetData, ACopyIsTrainedOnceAndAnEmptyCampaignFovIsLeftOut) {
  // The same table twice (and a copy of it under another name): one dataset, so that a table
  // held out for validation is never also trained on. A campaign FoV with no localizations (one
  // between cells) is left out; the same table given by the user is an error.
  const std::string dir = tmp_dir("copies");
  const std::string epfl = std::string(ANNAMOSAIC_TEST_DATA) + "/epfl2013-bundled-tubes-hd-groundtruth.csv";
  std::filesystem::copy_file(epfl, dir + "/copy.csv", std::filesystem::copy_options::overwrite_existing);
  std::ofstream(dir + "/empty.csv") << "frame,x [nm],y [nm]\n";
  DataOptions o;
  o.source = "tables";
  for (const std::string& table : {epfl, epfl, dir + "/copy.csv", dir + "/empty.csv"}) {
    TableDatasetSpec t;
    t.table = table;
    t.skip_if_empty = table == dir + "/empty.csv";
    o.tables.push_back(t);
  }
  const TrainingData data(o);
  EXPECT_EQ(data.describe().rfind("1 table (", 0), 0u) << data.describe();
  o.tables.back().skip_if_empty = false;
  EXPECT_THROW(TrainingData{o}, InputError);
  // With its widefield too (each copy's registration would draw its own T window).
  CampaignOptions c;
  c.grid.rows = c.grid.cols = 1;
  c.grid.fov_um = 12;
  c.specimen.cell_fraction = 1.0;
  c.specimen.cell_radius_um = 200;
  c.specimen.filaments_per_100um2 = 25;
  simulate_campaign(c, dir + "/campaign");
  DataOptions w;
  w.source = "tables";
  TableDatasetSpec fov;
  fov.table = dir + "/campaign/fov/0000/locs.csv";
  fov.widefield = dir + "/campaign/fov/0000/widefield.tif";
  w.tables = {fov, fov};
  EXPECT_EQ(TrainingData(w).describe().rfind("1 table (1 with widefield", 0), 0u);
}

// ---------------------------------------------------------------- model file

namespace {
std::string write_tiny_model(const std::string& path, int ngf = 4) {
  TrainOptions o = tiny_options();
  o.network.ngf = ngf;
  TrainerCore core(o, torch::kCPU);
  write_model_file(path, core.model_file({{"command", "test"}}));
  return path;
}
}  // namespace

TEST(AnetModelFile, RoundTripAndReconstructorReproducesTheGenerator) {
  const std::string d = tmp_dir("model");
  TrainOptions o = tiny_options();
  TrainerCore core(o, torch::kCPU);
  const ModelFile m = core.model_file({{"command", "unit test"}});
  write_model_file(d + "/m.h5", m);
  const ModelFile r = read_model_file(d + "/m.h5");
  EXPECT_EQ(r.network.ngf, 4);
  EXPECT_EQ(r.provenance.at("command"), "unit test");
  ASSERT_EQ(r.groups.at("generator").size(), m.groups.at("generator").size());
  for (std::size_t i = 0; i < r.groups.at("generator").size(); ++i) {
    EXPECT_EQ(r.groups.at("generator")[i].name, m.groups.at("generator")[i].name);  // module order kept
    EXPECT_EQ(r.groups.at("generator")[i].data, m.groups.at("generator")[i].data);
  }
  // The facade gives exactly the trainer's reconstruction.
  TrainingData data(o.data);
  const TrainingSample s = data.sample(1);
  const PreparedSample p = core.prepare(s);
  const ImageF want = tensor_to_image(core.predict(p));
  const Reconstructor net(d + "/m.h5");
  EXPECT_EQ(net.info().generator_parameters, parameter_count(*core.g));
  const ReconstructionResult got = net.run(s.sparse.view(), s.widefield.empty() ? nullptr : &s.widefield, s.switch_id);
  ASSERT_EQ(got.reconstruction.size(), want.size());
  float maxdiff = 0;
  for (std::size_t i = 0; i < want.size(); ++i) maxdiff = std::max(maxdiff, std::abs(got.reconstruction.data()[i] - want.data()[i]));
  EXPECT_LT(maxdiff, 1e-6f);
}

TEST(AnetModelFile, SwitchIdsTheModelWasNotTrainedWithAreRefused) {
  ModelFile m;
  // Recorded by train: only those ids are given to the network.
  m.provenance["switch_ids"] = "0,1";
  EXPECT_EQ(trained_switch_ids(m), (std::vector<int>{0, 1}));
  EXPECT_EQ(switch_id_refusal("m.h5", m, 1), "");
  const std::string refusal = switch_id_refusal("m.h5", m, 3);
  EXPECT_NE(refusal.find("m.h5 was trained with switch ids 0, 1 only"), std::string::npos) << refusal;
  // Older models trained on the simulator (whatever --source said: auto too): their data line
  // names the structure.
  m.provenance.erase("switch_ids");
  m.provenance["data"] = "simulator (nuclear-pores, specimen seed 1, 0.02-30 localizations per label)";
  EXPECT_EQ(trained_switch_ids(m), (std::vector<int>{1}));
  EXPECT_NE(switch_id_refusal("m.h5", m, 0), "");
  m.provenance["data"] = "simulator (microtubules, specimen seed 1, 0.02-30 localizations per label)";
  EXPECT_EQ(trained_switch_ids(m), (std::vector<int>{0}));
  // Trained on tables before the record: unknown, nothing refused.
  m.provenance["data"] = "3 tables (3 with widefield; 3 for training, none held out for validation), 20 pairs each";
  EXPECT_TRUE(trained_switch_ids(m).empty());
  EXPECT_EQ(switch_id_refusal("m.h5", m, 5), "");
  // A record that is no list of ids is refused, not read as "any switch" (probe73).
  m.provenance["switch_ids"] = "0,5abc";  // half a number is no id either
  EXPECT_NE(switch_id_refusal("m.h5", m, 0).find("is not a list of switch ids"), std::string::npos);
  m.provenance["switch_ids"] = "garbage";
  EXPECT_NE(switch_id_refusal("m.h5", m, 0).find("m.h5: its provenance/switch_ids 'garbage' is not a list of switch ids"),
            std::string::npos) << switch_id_refusal("m.h5", m, 0);
}

TEST(AnetModelFile, TrainingDataSaysItsSwitchIds) {
  TrainOptions o = tiny_options();
  o.data.sim.specimen.structure = Structure::NuclearPores;
  EXPECT_EQ(TrainingData(o.data).switch_ids(), (std::vector<int>{1}));
}

TEST(AnetModelFile, BadFilesGiveClearErrors) {
  const std::string d = tmp_dir("badmodel");
  const std::string good = write_tiny_model(d + "/good.h5");
  auto expect_error = [](const std::string& path, const std::string& part) {
    try {
      Reconstructor r(path);
      ADD_FAILURE() << path << ": no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << "the message names the file: " << e.what();
    }
  };
  // Truncated: the first half of the bytes.
  {
    std::ifstream in(good, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(d + "/truncated.h5", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  expect_error(d + "/truncated.h5", "");
  std::ofstream(d + "/text.h5") << "not hdf5\n";
  expect_error(d + "/text.h5", "not an HDF5 file");
  expect_error(d + "/missing.h5", "does not exist");
  // Attributes that disagree with the weights: ngf, channels.
  {
    ModelFile m = read_model_file(good);
    m.network.ngf = 8;
    write_model_file(d + "/ngf.h5", m);
    expect_error(d + "/ngf.h5", "generator/enc1.switch' has shape [4,1,1,1] but the network built from the file's attributes expects [8,1,1,1]");
    m.network.ngf = 4;
    m.network.in_channels = 3;
    write_model_file(d + "/channels.h5", m);
    expect_error(d + "/channels.h5", "in_channels 3");
  }
  // A newer format version, and a foreign HDF5 file.
  {
    fs::copy_file(good, d + "/v2.h5");
    const hid_t f = H5Fopen((d + "/v2.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    H5Adelete(f, "format_version");
    const hid_t sp = H5Screate(H5S_SCALAR);
    const hid_t a = H5Acreate2(f, "format_version", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    const std::int64_t v = 2;
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    H5Sclose(sp);
    H5Fclose(f);
    expect_error(d + "/v2.h5", "format version 2 is not supported");
    const hid_t g = H5Fcreate((d + "/foreign.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(g);
    expect_error(d + "/foreign.h5", "no 'format' attribute");
  }
}

// ---------------------------------------------------------------- inference

TEST(AnetInference, TileStartsCoverWithOverlap) {
  EXPECT_EQ(tile_starts(300, 512, 64), (std::vector<std::int64_t>{0}));
  for (std::int64_t n : {513, 896, 900, 1300, 2560, 2765}) {
    const auto s = tile_starts(n, 512, 128);
    EXPECT_EQ(s.front(), 0);
    EXPECT_EQ(s.back(), n - 512);
    for (std::size_t i = 1; i < s.size(); ++i) EXPECT_GE(s[i - 1] + 512 - s[i], 128) << n;
    // One tile fewer could not cover n px with 128 px overlaps.
    const std::int64_t k = static_cast<std::int64_t>(s.size());
    if (k >= 2) {
      EXPECT_LT((k - 1) * 512 - (k - 2) * 128, n) << n;
    }
  }
  EXPECT_EQ(tile_starts(896, 512, 128), (std::vector<std::int64_t>{0, 384}));
}

TEST(AnetInference, ThreeModesAndOutputSizes) {
  const std::string d = tmp_dir("modes");
  const Reconstructor net(write_tiny_model(d + "/m.h5"));
  ImageF s(300, 270), w(300, 270);
  std::mt19937 rng(2);
  std::poisson_distribution<int> p(0.05);
  for (float& v : s) v = static_cast<float>(p(rng));
  for (std::size_t i = 0; i < w.size(); ++i) w.data()[i] = 100.0f + static_cast<float>(i % 300) * 0.1f;
  const ReconstructionResult both = net.run(s.view(), &w, 0);
  EXPECT_EQ(both.reconstruction.width(), 300u);
  EXPECT_EQ(both.reconstruction.height(), 270u);
  EXPECT_EQ(both.q_of_a.width(), 75u);
  EXPECT_EQ(both.q_of_a.height(), 68u);  // ceil(270 / 4)
  EXPECT_EQ(both.error_map.width(), 75u);
  EXPECT_EQ(both.error_map.height(), 68u);
  const ReconstructionResult sparse_only = net.run(s.view(), nullptr, 0);
  EXPECT_TRUE(sparse_only.error_map.empty());
  EXPECT_EQ(sparse_only.q_of_a.width(), 75u);
  const ReconstructionResult wf_only = net.run(ImageView<const float>(), &w, 0);
  EXPECT_EQ(wf_only.reconstruction.width(), 300u);
  EXPECT_FALSE(wf_only.error_map.empty());
  for (float v : both.reconstruction) ASSERT_TRUE(v >= 0 && v <= 1);
  EXPECT_THROW(net.run(ImageView<const float>(), nullptr, 0), std::invalid_argument);
  ImageF other(100, 100);
  EXPECT_THROW(net.run(s.view(), &other, 0), std::invalid_argument);
  // uint16 form: round(A * 65535).
  const ImageU16 u = reconstruction_to_u16(both.reconstruction.view());
  EXPECT_EQ(u(10, 10), static_cast<std::uint16_t>(std::lround(both.reconstruction(10, 10) * 65535.0f)));
  // Devices this build does not have are refused clearly.
  ReconstructorOptions cuda;
  cuda.device = "cuda";
  if (!torch::cuda::is_available()) {
    EXPECT_THROW(Reconstructor(d + "/m.h5", cuda), IoError);
  }
  ReconstructorOptions bf16;
  bf16.precision = "bf16";
  EXPECT_THROW(Reconstructor(d + "/m.h5", bf16), std::invalid_argument);
}

TEST(AnetInference, OneTileEqualsWholeAndTilesAgreeWithWhole) {
  // With the shipped model when present (realistic weights), else a random tiny one.
  const std::string d = tmp_dir("tiles");
  const bool shipped = fs::exists(kShippedModel);
  const std::string model = shipped ? kShippedModel : write_tiny_model(d + "/m.h5", 8);
  const ModelFile mf = read_model_file(model);
  Generator g(mf.network);
  import_module(*g, mf.groups.at("generator"), model, "generator");
  g->eval();
  torch::InferenceMode guard;
  // A simulated FoV of 1000 x 900 px (not a multiple of 256).
  SimulationOptions so;
  so.specimen.seed = 77;
  FieldSimulator sim(so, 20.0);
  WarpOptions plain;
  plain.rotate = false;
  plain.elastic_px = 0;
  const SimulatedField f = sim.field(1000, 900, plain, false, 5);
  const ImageF s = sim.sparse(f, 1000, 900, 20 * f.labels_inside, 6);
  const ImageF sn = standardise_sparse(s.view());
  const torch::Tensor x = torch::stack({image_to_tensor(sn.view()), torch::zeros({900, 1000})}).unsqueeze(0);
  DeviceSetup dev;
  const torch::Tensor whole = generate_whole(g, x, 0.0f, dev);
  // One tile covering the padded FoV is the whole pass.
  const torch::Tensor one = generate_tiled(g, x.slice(2, 0, 500).slice(3, 0, 500), 0.0f, 512, 512, 128, dev);
  const torch::Tensor one_whole = generate_whole(g, x.slice(2, 0, 500).slice(3, 0, 500), 0.0f, dev);
  EXPECT_EQ((one - one_whole).abs().max().item<float>(), 0.0f);
  std::size_t tiles = 0;
  const torch::Tensor tiled = generate_tiled(g, x, 0.0f, 512, 512, 128, dev, &tiles);
  EXPECT_EQ(tiles, 9u);  // 3 x 3: two tiles would overlap by less than 128 px
  const ImageF aw = tensor_to_image((whole + 1) / 2), at = tensor_to_image((tiled + 1) / 2);
  const float maxdiff = ((whole - tiled) / 2).abs().max().item<float>();
  const double agree = ms_ssim_wang(aw.view(), at.view());
  std::cout << "tiled (512 px, 128 overlap) vs whole FoV, " << (shipped ? "shipped model" : "random tiny model")
            << ": max |A_tiled - A_whole| = " << maxdiff << ", MS-SSIM(tiled, whole) = " << agree << "\n";
  RecordProperty("max_abs_difference", std::to_string(maxdiff));
  RecordProperty("ms_ssim_tiled_vs_whole", std::to_string(agree));
  if (shipped) {
    EXPECT_GT(agree, 0.9);
  }
  EXPECT_LT(maxdiff, 1.0f);
  // Full-width strips (a tile as wide as the padded FoV): 2 strips of 768 rows for 900 rows.
  std::size_t strips = 0;
  const torch::Tensor striped = generate_tiled(g, x, 0.0f, 768, 1024, 128, dev, &strips);
  EXPECT_EQ(strips, 2u);
  const ImageF as = tensor_to_image((striped + 1) / 2);
  if (shipped) {
    EXPECT_GT(ms_ssim_wang(aw.view(), as.view()), 0.9);
  }
  EXPECT_LT(((whole - striped) / 2).abs().max().item<float>(), 1.0f);
}

// The A-net as every earlier version of Reconstructor::run computed it, step by step on one thread.
ReconstructionResult reference_reconstruction(const std::string& model, ImageView<const float> s, const ImageF& w,
                                              const Tiling& tiling) {
  const ModelFile mf = read_model_file(model);
  Generator g(mf.network);
  LowResEstimator q(mf.network);
  import_module(*g, mf.groups.at("generator"), model, "generator");
  import_module(*q, mf.groups.at("lowres_estimator"), model, "lowres_estimator");
  g->eval();
  q->eval();
  torch::InferenceMode guard;
  const ImageF sn = standardise_sparse(s), l01 = scale_widefield(w.view(), mf.data.pixel_nm);
  const torch::Tensor x = torch::stack({image_to_tensor(sn.view()), image_to_tensor(l01.view())}).unsqueeze(0);
  DeviceSetup dev;
  const torch::Tensor g_out = tiling.tiled ? generate_tiled(g, x, 0.0f, tiling.tile_h, tiling.tile_w, 128, dev)
                                           : generate_whole(g, x, 0.0f, dev);
  const std::int64_t h4 = round_up(x.size(2), 4), w4 = round_up(x.size(3), 4);
  // Q's input padded to a multiple of 4 by repeating the edge (530 rows here: 2 rows padded).
  const torch::Tensor qa = q->forward(torch::replication_pad2d(g_out, {0, w4 - x.size(3), 0, h4 - x.size(2)}));
  ReconstructionResult r;
  r.reconstruction = tensor_to_image((g_out + 1) / 2);
  r.q_of_a = tensor_to_image(qa);
  r.widefield_q = widefield_on_q_grid(l01.view());
  r.error_map = tensor_to_image(error_map(qa, image_to_tensor(r.widefield_q.view()).reshape({1, 1, h4 / 4, w4 / 4})));
  return r;
}

float max_abs_difference(const ImageF& a, const ImageF& b) {
  if (a.width() != b.width() || a.height() != b.height()) return INFINITY;
  float d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a.data()[i] - b.data()[i]));
  return d;
}

TEST(AnetInference, StepsOnAnyThreadsGiveTheReferenceReconstruction) {
  const std::string d = tmp_dir("steps");
  const std::string model = write_tiny_model(d + "/m.h5", 8);
  ImageF s(600, 530), w(600, 530);
  std::mt19937 rng(5);
  std::poisson_distribution<int> p(0.1);
  for (float& v : s) v = static_cast<float>(p(rng));
  for (std::size_t i = 0; i < w.size(); ++i) w.data()[i] = 80.0f + static_cast<float>((i * 7) % 600) * 0.2f;
  for (const char* mode : {"whole", "tiled"}) {
    SCOPED_TRACE(mode);
    ReconstructorOptions o;
    o.mode = mode;
    o.tile_px = 512;
    const Reconstructor net(model, o);
    const ReconstructionResult want =
        reference_reconstruction(model, s.view(), w, {std::string(mode) == "tiled", 512, 512});
    // prepare and finish on other threads than the networks, as the run's pipeline does.
    std::shared_ptr<Reconstructor::Job> job;
    std::thread([&] { job = net.prepare(s.view(), &w, 0); }).join();
    net.run_networks(*job);
    EXPECT_THROW(net.run_networks(*job), std::logic_error);  // a job runs once
    ReconstructionResult got;
    std::thread([&] { got = net.finish(*job); }).join();
    EXPECT_THROW(net.finish(*job), std::logic_error);
    EXPECT_EQ(max_abs_difference(got.reconstruction, want.reconstruction), 0.0f);
    EXPECT_EQ(max_abs_difference(got.q_of_a, want.q_of_a), 0.0f);
    EXPECT_EQ(max_abs_difference(got.widefield_q, want.widefield_q), 0.0f);
    // The error map's convolutions may sum in another order with another thread count.
    EXPECT_LT(max_abs_difference(got.error_map, want.error_map), 1e-5f);
    EXPECT_GT(got.network_seconds, 0.0);
    EXPECT_NEAR(got.seconds, got.prepare_seconds + got.network_seconds + got.finish_seconds, 1e-9);
    // run() is the three steps.
    const ReconstructionResult again = net.run(s.view(), &w, 0);
    EXPECT_EQ(max_abs_difference(again.reconstruction, got.reconstruction), 0.0f);
  }
  const Reconstructor net(model);
  auto unprepared = net.prepare(s.view(), nullptr, 0);
  EXPECT_THROW(net.finish(*unprepared), std::logic_error);  // networks first
}

TEST(AnetInference, TilingForAMemoryBudget) {
  // A full-size FoV (2765 px) at ngf 16: one pass needs ~3.6 GB; in 2 GiB, two full-width strips
  // of 1536 rows compute 9% more pixels than one pass, squares would compute far more.
  EXPECT_FALSE(choose_tiling(16, 2765, 2765, std::size_t{4096} << 20, 512, 128).tiled);
  const Tiling t = choose_tiling(16, 2765, 2765, std::size_t{2048} << 20, 512, 128);
  ASSERT_TRUE(t.tiled);
  EXPECT_EQ(t.tile_w, 2816);
  EXPECT_EQ(t.tile_h, 1536);
  EXPECT_LE(generator_pass_bytes(16, t.tile_h, t.tile_w), std::size_t{2048} << 20);
  // A budget too small for strips of at least 512 rows: squares.
  const Tiling sq = choose_tiling(64, 20000, 20000, std::size_t{512} << 20, 512, 128);
  ASSERT_TRUE(sq.tiled);
  EXPECT_EQ(sq.tile_h, sq.tile_w);
}

TEST(AnetData, SimulatedWidefieldIsRegisteredToTheTarget) {
  // The pipeline's registration (pipeline/register) finds the simulator's known misregistration.
  SimulationOptions so;
  so.specimen.cell_radius_um = 2000;  // covered everywhere
  so.specimen.filaments_per_100um2 = 20;
  FieldSimulator sim(so, 20.0);
  WarpOptions plain;
  plain.rotate = false;
  plain.elastic_px = 0;
  for (std::uint64_t seed : {1, 2, 3}) {
    const SimulatedField f = sim.field(512, 512, plain, true, seed);
    WidefieldRegistration reg;
    const ImageF L = register_widefield_to(f.perfect.view(), f.widefield.view(), 20.0, 108.0, &reg);
    EXPECT_EQ(L.width(), 512u);
    EXPECT_GE(reg.confidence, kMinWidefieldConfidence) << seed;
    EXPECT_NEAR(reg.shift_x_px, f.wf_shift_x_px, 0.25) << seed;
    EXPECT_NEAR(reg.shift_y_px, f.wf_shift_y_px, 0.25) << seed;
  }
}

// The gain table's "n the histogram needs": interpolated on the curve, or a bound at either end
// (an A-net worse than the sparsest histogram is "<= 1x", never an exact 1.0).
TEST(AnetEvaluation, EquivalentNIsABoundOutsideTheCurve) {
  const std::vector<double> n = {1000, 10000, 100000}, hist = {0.5, 0.7, 0.8};
  bool lower = false, upper = false;
  EXPECT_NEAR(equivalent_n(n, hist, 0.6, &lower, &upper), std::sqrt(1000.0 * 10000.0), 1e-6);
  EXPECT_FALSE(lower || upper);
  EXPECT_EQ(equivalent_n(n, hist, 0.3, &lower, &upper), 1000);
  EXPECT_TRUE(upper);
  EXPECT_FALSE(lower);
  EXPECT_STREQ(bound_mark(lower, upper), "<=");
  EXPECT_EQ(equivalent_n(n, hist, 0.9, &lower, &upper), 100000);
  EXPECT_TRUE(lower);
  EXPECT_FALSE(upper);
  EXPECT_STREQ(bound_mark(lower, upper), ">");
}
