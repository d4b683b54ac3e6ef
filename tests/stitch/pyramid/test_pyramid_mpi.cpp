// IMS writer with 2 MPI ranks (run under mpiexec -n 2): any split of the blocks between ranks
// gives the same file as one process; errors reach every rank with the same message.
// GoogleTest main with MPI: MPI_Init_thread(MULTIPLE), an environment whose
// TearDown finalizes MPI. Only rank 0 reads files back; its verdict is broadcast so that both
// ranks pass or fail together.
#include <gtest/gtest.h>
#include <mpi.h>
#include <tbb/parallel_for.h>

#include <filesystem>
#include <random>

#include "core/error.hpp"
#include "pyramid/ims_reader.hpp"
#include "pyramid/ims_writer.hpp"
#include "pyramid/pyramid.hpp"
#include "synthetic_mosaic.hpp"

using namespace annamosaic;
namespace fs = std::filesystem;

namespace {

int rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

std::string tmp_dir(const std::string& name) {
  const fs::path d = fs::path(ANNAMOSAIC_TEST_TMP) / name;
  if (rank() == 0) {
    fs::remove_all(d);
    fs::create_directories(d);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return d.string();
}

std::vector<ImageU16> level0(const MosaicInfo& info) {
  std::vector<ImageU16> out;
  for (std::size_t c = 0; c < info.channels.size(); ++c) {
    out.emplace_back(info.width_px, info.height_px);
    synthetic::fill(c, 0, 0, out.back().view());
  }
  return out;
}

// Blocks are split between the ranks by `owner_of`; each rank writes its own from several threads.
template <class Owner>
void write_share(BlockSink& sink, const MosaicInfo& info, const std::vector<ImageU16>& img, Owner owner_of,
                 long skip = -1) {
  std::vector<std::size_t> mine;
  for (std::size_t i = 0; i < info.blocks_x() * info.blocks_y(); ++i)
    if (owner_of(i) == rank() && long(i) != skip) mine.push_back(i);
  tbb::parallel_for(std::size_t{0}, mine.size(), std::size_t{1}, [&](std::size_t k) {
    const std::size_t i = mine[k], bx = i % info.blocks_x(), by = i / info.blocks_x(), B = info.block_px;
    const std::size_t w = std::min(B, info.width_px - bx * B), h = std::min(B, info.height_px - by * B);
    std::vector<ImageView<const std::uint16_t>> views;
    for (const auto& im : img) views.push_back(ImageView<const std::uint16_t>(im.view()).region(bx * B, by * B, w, h));
    sink.write_block(bx, by, views);
  });
}

// Rank 0 compares every level with the in-memory reference; returns "" when equal.
std::string compare(const std::string& path, const MosaicInfo& info, const std::vector<ImageU16>& img) {
  ImsReader r(path);
  r.open();
  const auto plan = plan_pyramid(info.width_px, info.height_px);
  if (r.info().levels.size() != plan.size()) return "level count";
  for (std::size_t c = 0; c < img.size(); ++c) {
    ImageU16 ref = img[c].clone();
    for (std::size_t l = 0; l < plan.size(); ++l) {
      if (l > 0) {
        ImageU16 next(plan[l].width, plan[l].height);
        downsample_2x2(ref.view(), next.view());
        ref = std::move(next);
      }
      const ImageU16 got = r.read(l, c, 0, 0, plan[l].width, plan[l].height);
      if (!std::equal(got.begin(), got.end(), ref.begin()))
        return "level " + std::to_string(l) + " channel " + std::to_string(c) + " differs";
      std::uint64_t n = 0;
      for (auto v : r.histogram(l, c)) n += v;
      if (n != ref.size()) return "histogram count at level " + std::to_string(l);
    }
  }
  return "";
}

void expect_all_ranks(const std::string& local_failure) {
  int bad = local_failure.empty() ? 0 : 1, any = 0;
  MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  EXPECT_TRUE(local_failure.empty()) << local_failure;
  EXPECT_EQ(any, 0) << "another rank failed";
}

class MpiEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { MPI_Finalize(); }
};

}  // namespace

TEST(ImsWriterMpi, RandomSplitSameAsOneProcess) {
  const std::string dir = tmp_dir("random");
  const MosaicInfo info = synthetic::mosaic_info(5000, 4100, 3);  // 5 x 5 blocks, 4 levels
  const auto img = level0(info);
  std::mt19937 rng(42);  // same seed on every rank: the same split
  std::vector<int> owner(info.blocks_x() * info.blocks_y());
  for (auto& o : owner) o = static_cast<int>(rng() % 2);
  ImsWriterOptions opt;
  opt.comm = MPI_COMM_WORLD;
  opt.queue_mb = 8;
  ImsWriter w(dir + "/mosaic.ims", info, opt);
  w.open();
  write_share(w, info, img, [&](std::size_t i) { return owner[i]; });
  w.finish();
  EXPECT_GT(w.stats().chunks, 0u);
  EXPECT_GT(w.stats().file_bytes, 0u);  // known on every rank
  expect_all_ranks(rank() == 0 ? compare(dir + "/mosaic.ims", info, img) : "");
  if (rank() == 0) {
    EXPECT_TRUE(fs::exists(dir + "/mosaic.xml"));
  }
}

TEST(ImsWriterMpi, CyclicRowSplitBlock2048) {
  const std::string dir = tmp_dir("cyclic");
  const MosaicInfo info = synthetic::mosaic_info(4200, 6500, 2, 2048);  // 4 levels, 4 block rows over both ranks
  const auto img = level0(info);
  ImsWriterOptions opt;
  opt.comm = MPI_COMM_WORLD;
  ImsWriter w(dir + "/m.ims", info, opt);
  w.open();
  write_share(w, info, img, [&](std::size_t i) { return static_cast<int>((i / info.blocks_x()) % 2); });
  w.finish();
  expect_all_ranks(rank() == 0 ? compare(dir + "/m.ims", info, img) : "");
}

TEST(ImsWriterMpi, MissingBlockFailsOnEveryRankWithTheSameMessage) {
  const std::string dir = tmp_dir("missing");
  const MosaicInfo info = synthetic::mosaic_info(3000, 2100, 2);
  const auto img = level0(info);
  ImsWriterOptions opt;
  opt.comm = MPI_COMM_WORLD;
  ImsWriter w(dir + "/m.ims", info, opt);
  w.open();
  write_share(w, info, img, [](std::size_t i) { return static_cast<int>(i % 2); }, /*skip=*/7);
  std::string msg;
  try {
    w.finish();
  } catch (const Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("1 of 9 blocks missing"), std::string::npos) << msg;
  // Same message on both ranks.
  int len = static_cast<int>(msg.size()), len0 = len;
  MPI_Bcast(&len0, 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::string msg0 = msg;
  msg0.resize(static_cast<std::size_t>(len0));
  MPI_Bcast(msg0.data(), len0, MPI_CHAR, 0, MPI_COMM_WORLD);
  EXPECT_EQ(msg, msg0);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank() == 0) {
    EXPECT_TRUE(fs::is_empty(dir));
  }
}

TEST(ImsWriterMpi, UncreatableFileFailsOpenOnEveryRank) {
  const std::string dir = tmp_dir("nodir");
  ImsWriterOptions opt;
  opt.comm = MPI_COMM_WORLD;
  ImsWriter w(dir + "/no/such/folder/m.ims", synthetic::mosaic_info(3000, 2100, 1), opt);
  std::string path;
  try {
    w.open();
  } catch (const IoError& e) {
    path = e.path();
  }
  EXPECT_EQ(path, dir + "/no/such/folder/m.ims");
}

// A job that gives up (exception before finish()) on every rank: the destructors stop the threads
// without collectives or hangs, and nothing is left in the folder.
TEST(ImsWriterMpi, AbandonedOnAllRanksLeavesNothing) {
  const std::string dir = tmp_dir("abandon");
  const MosaicInfo info = synthetic::mosaic_info(5000, 4100, 3);
  const auto img = level0(info);
  {
    ImsWriterOptions opt;
    opt.comm = MPI_COMM_WORLD;
    ImsWriter w(dir + "/m.ims", info, opt);
    w.open();
    write_share(w, info, img, [](std::size_t i) { return static_cast<int>(i % 2); }, /*skip=*/3);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank() == 0) {
    EXPECT_TRUE(fs::is_empty(dir));
  }
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  ::testing::AddGlobalTestEnvironment(new MpiEnvironment);
  // Only rank 0 prints; the others still run every test.
  if (rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  return RUN_ALL_TESTS();
}
