#include <gtest/gtest.h>

#include "batch/gpu_binding.hpp"

using namespace annamosaic;

TEST(GpuBinding, OneVisibleDeviceIsAlwaysDeviceZero) {
  // srun --gpus-per-task=1: rank with SLURM_LOCALID=3 sees only its own GPU as device 0.
  const Binding b = choose_binding({{"SLURM_LOCALID", "3"}, {"CUDA_VISIBLE_DEVICES", "3"}}, 1, 0, 16, 4);
  EXPECT_EQ(b.device, 0);
  EXPECT_EQ(b.local_rank, 3);
  EXPECT_EQ(b.visible_devices, "3");
}

TEST(GpuBinding, SeveralDevicesUseLocalRankModuloCount) {
  EXPECT_EQ(choose_binding({{"OMPI_COMM_WORLD_LOCAL_RANK", "5"}}, 4, 0, 16, 8).device, 1);
  EXPECT_EQ(choose_binding({{"OMPI_COMM_WORLD_LOCAL_RANK", "2"}}, 4, 0, 16, 8).device, 2);
  EXPECT_EQ(choose_binding({}, 0, 0, 16, 1).device, -1);  // CPU
  // srun --gpu-bind=closest on two sockets: local ranks 0 and 2 both see GPUs {0,1}; rank 2 is the
  // second of them, so GPU 1 (local rank modulo 2 put both on GPU 0).
  EXPECT_EQ(choose_binding({{"SLURM_LOCALID", "2"}, {"CUDA_VISIBLE_DEVICES", "0,1"}}, 2, 0, 16, 4, 0, 1).device, 1);
  EXPECT_EQ(choose_binding({{"SLURM_LOCALID", "0"}, {"CUDA_VISIBLE_DEVICES", "0,1"}}, 2, 0, 16, 4, 0, 0).device, 0);
  // Each rank's place among those that see the same set, and when two ranks still share a GPU.
  EXPECT_EQ(peer_indices({"0,1", "2,3", "0,1", "2,3"}), (std::vector<int>{0, 0, 1, 1}));
  EXPECT_EQ(shared_gpu_warning({"0,1", "2,3", "0,1", "2,3"}), "");  // two sockets, two ranks each
  EXPECT_EQ(shared_gpu_warning({"0", "1", "2", "3"}), "");             // --gpus-per-task=1
  EXPECT_EQ(shared_gpu_warning({"", ""}), "");                         // no GPUs named
  // Three ranks on one socket's two GPUs, one on the other's: GPU 0 twice, GPU 3 idle.
  const std::string w = shared_gpu_warning({"0,1", "0,1", "0,1", "2,3"});
  EXPECT_EQ(w.rfind("GPU 0 is used by 2 ranks of this node (local 0, 2)", 0), 0u) << w;
}

TEST(GpuBinding, ThreadsFromOptionThenSlurmThenShareOfTheNode) {
  EXPECT_EQ(choose_binding({{"SLURM_CPUS_PER_TASK", "6"}}, 0, 3, 16, 2).threads, 3u);
  EXPECT_EQ(choose_binding({{"SLURM_CPUS_PER_TASK", "6"}}, 0, 0, 16, 2).threads, 6u);
  EXPECT_EQ(choose_binding({}, 0, 0, 16, 4).threads, 4u);
  EXPECT_EQ(choose_binding({}, 0, 0, 2, 4).threads, 1u);
}

TEST(GpuBinding, ThreadsNeverExceedTheAffinityMaskByDefault) {
  // A lone rank that mpirun pinned to one of two cores: one thread, and a warning that says how
  // to give it both.
  const Binding lone = choose_binding({}, 0, 0, 2, 1, 1);
  EXPECT_EQ(lone.threads, 1u);
  EXPECT_NE(lone.warning.find("--map-by slot:PE=2"), std::string::npos) << lone.warning;
  // Two ranks bound to one core each: their share, no warning.
  const Binding pair = choose_binding({}, 0, 0, 2, 2, 1);
  EXPECT_EQ(pair.threads, 1u);
  EXPECT_TRUE(pair.warning.empty()) << pair.warning;
  // Unbound (mask = whole node): the share.
  EXPECT_EQ(choose_binding({}, 0, 0, 16, 4, 16).threads, 4u);
  // An explicit --threads beyond the mask is honoured but reported as oversubscribed.
  const Binding over = choose_binding({}, 0, 4, 16, 4, 2);
  EXPECT_EQ(over.threads, 4u);
  EXPECT_NE(over.warning.find("oversubscribed"), std::string::npos) << over.warning;
}

TEST(GpuBinding, AutoInFlightFeedsAGpuFromTheRanksThreads) {
  Binding cpu;
  cpu.threads = 16;
  EXPECT_EQ(auto_in_flight(cpu), 3u);  // CPU: the A-net uses every thread itself
  Binding gpu = choose_binding({{"CUDA_VISIBLE_DEVICES", "0"}}, 1, 0, 16, 1, 16);
  ASSERT_EQ(gpu.device, 0);
  EXPECT_EQ(auto_in_flight(gpu), 8u);  // 16 threads: 8 FoVs in their CPU stages at once
  gpu.threads = 2;
  EXPECT_EQ(auto_in_flight(gpu), 3u);
  gpu.threads = 128;
  EXPECT_EQ(auto_in_flight(gpu), 16u);
}

// GPUs granted by the launcher but invisible to LibTorch (its CPU build): the run says so.
TEST(GpuBinding, GrantedGpusThatLibTorchCannotSeeAreNamed) {
  const std::map<std::string, std::string> granted = {{"CUDA_VISIBLE_DEVICES", "0,1"}};
  EXPECT_NE(granted_gpus_unused(granted, 0).find("CUDA_VISIBLE_DEVICES=0,1: GPU(s) were granted"), std::string::npos);
  EXPECT_EQ(granted_gpus_unused(granted, 2), "");                           // seen: used
  EXPECT_EQ(granted_gpus_unused({}, 0), "");                                // none granted
  EXPECT_EQ(granted_gpus_unused({{"CUDA_VISIBLE_DEVICES", ""}}, 0), "");    // hidden on purpose
  EXPECT_EQ(granted_gpus_unused({{"CUDA_VISIBLE_DEVICES", "-1"}}, 0), "");
}
