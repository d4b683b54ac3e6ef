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
}

TEST(GpuBinding, ThreadsFromOptionThenSlurmThenShareOfTheNode) {
  EXPECT_EQ(choose_binding({{"SLURM_CPUS_PER_TASK", "6"}}, 0, 3, 16, 2).threads, 3u);
  EXPECT_EQ(choose_binding({{"SLURM_CPUS_PER_TASK", "6"}}, 0, 0, 16, 2).threads, 6u);
  EXPECT_EQ(choose_binding({}, 0, 0, 16, 4).threads, 4u);
  EXPECT_EQ(choose_binding({}, 0, 0, 2, 4).threads, 1u);
}
