#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "batch/manifest.hpp"
#include "batch/output_lock.hpp"
#include "batch/output_status.hpp"
#include "core/error.hpp"

using namespace annamosaic;
namespace fs = std::filesystem;

TEST(OutputStatus, PaceIsTheLatestInvocations) {
  // Two invocations: t_s restarts at the second; a torn last line is ignored.
  const RunPace p = latest_run_pace({R"({"event":"fov","t_s":1.0})", R"({"event":"fov","t_s":9.0})",
                                     R"({"event":"fov","t_s":2.0})", R"({"event":"fov","t_s":4.5})", R"({"event":"fo)"});
  EXPECT_EQ(p.fovs, 2u);
  EXPECT_DOUBLE_EQ(p.seconds, 4.5);
  EXPECT_EQ(latest_run_pace({}).fovs, 0u);
  // A run writes a start line: a new run whose times do not drop below the last one's, or that
  // has recorded nothing yet, is still told apart.
  const RunPace q = latest_run_pace({R"({"event":"fov","t_s":5.0})", R"({"event":"start","t_s":0})",
                                     R"({"event":"fov","t_s":45.0})", R"({"event":"fov","t_s":50.0})"});
  EXPECT_EQ(q.fovs, 2u);
  EXPECT_DOUBLE_EQ(q.seconds, 50.0);
  EXPECT_EQ(latest_run_pace({R"({"event":"fov","t_s":5.0})", R"({"event":"start","t_s":0})"}).fovs, 0u);
  // The pace counts from the start line (after the run verified earlier results), not from t_s 0.
  const RunPace v = latest_run_pace({R"({"event":"start","t_s":10.0})", R"({"event":"fov","t_s":15.0})",
                                     R"({"event":"fov","t_s":20.0})"});
  EXPECT_EQ(v.fovs, 2u);
  EXPECT_DOUBLE_EQ(v.seconds, 10.0);
  EXPECT_EQ(v.to_process, -1);  // its start line does not say
  // What the run set out to do (earlier failures it retries included): status's "left" is that
  // less what it recorded.
  const RunPace t = latest_run_pace({R"({"event":"start","t_s":0,"to_process":7})", R"({"event":"fov","t_s":3.0})"});
  EXPECT_EQ(t.to_process, 7);
  EXPECT_EQ(t.fovs, 1u);
  EXPECT_EQ(latest_run_pace({R"({"event":7,"t_s":5.0})"}).fovs, 1u);  // odd but harmless
  // Each rank's first FoV carries the start-up (13 s here; two ranks end theirs together, and
  // one more by 1.25 x 13 s): the rest go at the pace after that wave, not at the mean.
  const RunPace w = latest_run_pace({R"({"event":"start","t_s":0})", R"({"event":"fov","t_s":13.0})",
                                     R"({"event":"fov","t_s":13.4})", R"({"event":"fov","t_s":16.0})",
                                     R"({"event":"fov","t_s":17.0})", R"({"event":"fov","t_s":19.0})",
                                     R"({"event":"fov","t_s":20.0})"});
  EXPECT_DOUBLE_EQ(w.first_s, 13.0);
  EXPECT_EQ(w.wave_fovs, 3u);
  EXPECT_DOUBLE_EQ(w.steady_rate(), 0.75);  // 3 FoVs in the 4 s after the wave
  EXPECT_DOUBLE_EQ(v.steady_rate(), 0.2);   // nothing after the wave yet: the mean
}

TEST(OutputStatus, CountsThePlansFovsFromTheManifest) {
  const std::string out = std::string(ANNAMOSAIC_TEST_TMP) + "/status_out";
  fs::remove_all(out);
  EXPECT_FALSE(read_output_status(out, nullptr).exists);
  fs::create_directories(out + "/fov");
  std::ofstream(out + "/fov/0000.h5") << "result";
  Manifest m(out + "/manifest.jsonl");
  m.append({0, "done", "fov/0000.h5", "fnv1a64:00", "", {}});
  m.append({1, "done", "fov/0001.h5", "fnv1a64:01", "", {}});  // its file since deleted
  m.append({2, "failed", "", "", "locs.csv:3: not a number", {}});
  m.append({9, "done", "fov/0009.h5", "fnv1a64:09", "", {}});  // not in this plan
  std::vector<FovEntry> plan(4);
  for (int i = 0; i < 4; ++i) plan[i].id = i;
  const OutputStatus s = read_output_status(out, &plan);
  EXPECT_TRUE(s.exists);
  EXPECT_EQ(s.planned, 4u);
  EXPECT_EQ(s.done, 1u);
  EXPECT_EQ(s.missing_results, 1u);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.not_in_plan, 1u);
  EXPECT_EQ(s.to_do(), 3u);  // the missing result, the failed FoV and the one never started
  ASSERT_EQ(s.failed_reasons.size(), 1u);
  EXPECT_EQ(s.failed_reasons[0].first, 2);
  EXPECT_GE(s.since_last_record_s, 0.0);
  EXPECT_LT(s.since_last_record_s, 60.0);
  EXPECT_FALSE(s.running);
  EXPECT_FALSE(s.stitch_summary);
  EXPECT_FALSE(s.stitch_summary_damaged);
  // A summary cut to nothing (a full disk, an edit) is told apart from none at all.
  std::ofstream(out + "/stitch_summary.json") << "";
  const OutputStatus cut = read_output_status(out, &plan);
  EXPECT_FALSE(cut.stitch_summary);
  EXPECT_TRUE(cut.stitch_summary_damaged);
  std::ofstream(out + "/stitch_summary.json") << R"({"mosaic_width_px": 10, "mosaic_height_px": 20})";
  const OutputStatus ok = read_output_status(out, &plan);
  EXPECT_TRUE(ok.stitch_summary);
  EXPECT_FALSE(ok.stitch_summary_damaged);
  EXPECT_EQ(ok.mosaic_width_px, 10u);
  fs::remove(out + "/stitch_summary.json");

  // The same plan on a 2 x 3 grid with one place empty: each FoV's state where it lies.
  const int rc[4][2] = {{0, 0}, {0, 1}, {1, 2}, {1, 0}};
  for (int i = 0; i < 4; ++i) plan[i].row = rc[i][0], plan[i].col = rc[i][1];
  EXPECT_EQ(fov_map(plan, 2, 3, s.recorded), (std::vector<std::string>{"#! ", ". x"}));
}

// A FoV recorded as not acquired yet (neither file there) is counted among the failed for the
// verdict, said apart, and once its table has come it is a FoV not done (the next run does it).
TEST(OutputStatus, AFovNotAcquiredYetIsSaidApartAndNotDoneOnceItsFilesCome) {
  const std::string out = std::string(ANNAMOSAIC_TEST_TMP) + "/status_not_acquired";
  fs::remove_all(out);
  fs::create_directories(out + "/fov");
  Manifest m(out + "/manifest.jsonl");
  m.append({0, "failed", "fov/0000.h5", "fnv1a64:00", "t0.csv: not acquired yet", {{"not_acquired", true}}});
  m.append({1, "failed", "fov/0001.h5", "fnv1a64:01", "t1.csv:3: not a number", {}});
  std::vector<FovEntry> plan(2);
  for (int i = 0; i < 2; ++i) plan[i].id = i, plan[i].col = i, plan[i].table_path = out + "/t" + std::to_string(i) + ".csv";
  OutputStatus s = read_output_status(out, &plan);
  EXPECT_EQ(s.failed, 2u);
  EXPECT_EQ(s.not_acquired, 1u);
  EXPECT_EQ(s.not_acquired_ids, std::vector<int>{0});
  ASSERT_EQ(s.failed_reasons.size(), 1u);  // the real failure's reason only
  EXPECT_EQ(fov_map(plan, 1, 2, s.recorded), (std::vector<std::string>{".x"}));
  // Its widefield come first (the microscope takes it before the localizations): the files have
  // changed since the record, so it is to do.
  plan[0].widefield_path = out + "/w0.tif";
  s = read_output_status(out, &plan);
  EXPECT_EQ(s.not_acquired, 0u);
  EXPECT_EQ(s.to_do(), 2u);
  // Recorded with its widefield there: waiting for its table still, until the table comes.
  m.append({0, "failed", "fov/0000.h5", "fnv1a64:00", "t0.csv: not acquired yet (its widefield is there, its table not yet)",
            {{"not_acquired", true}, {"widefield_present", true}}});
  s = read_output_status(out, &plan);
  EXPECT_EQ(s.not_acquired, 1u);
  EXPECT_EQ(s.failed, 2u);
  plan[0].widefield_path.clear();  // its widefield gone since (replaced): its files changed, to do
  EXPECT_EQ(read_output_status(out, &plan).not_acquired, 0u);
  plan[0].widefield_path = out + "/w0.tif";
  std::ofstream(out + "/t0.csv") << "frame,x,y\n";  // acquired since
  s = read_output_status(out, &plan);
  EXPECT_EQ(s.not_acquired, 0u);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.to_do(), 2u);
  // A table that is a link to nothing is no FoV still to come (a share not mounted): not waiting.
  plan[1].table_path = out + "/dangling.csv";
  fs::create_symlink(out + "/nowhere.csv", plan[1].table_path);
  EXPECT_TRUE(table_acquired(plan[1]));
  EXPECT_FALSE(still_not_acquired(plan[1], false));
}

TEST(OutputStatus, ARunsLockIsSeenFromAnotherProcessAndGoesWithIt) {
  const std::string out = std::string(ANNAMOSAIC_TEST_TMP) + "/status_lock";
  fs::remove_all(out);
  fs::create_directories(out);
  EXPECT_FALSE(output_lock_holder(out));
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  if (child == 0) {  // a run holding the folder
    try {
      OutputLock lock(out);
      char c = 1;
      (void)!write(ready[1], &c, 1);
      pause();
    } catch (...) {
    }
    _exit(1);
  }
  close(ready[1]);  // a child that failed to lock closes its end: the read below then returns 0
  char c = 0;
  const ssize_t got = read(ready[0], &c, 1);
  const auto holder = output_lock_holder(out);
  kill(child, SIGKILL);  // a killed run: the kernel drops its lock, its lock file stays
  waitpid(child, nullptr, 0);
  close(ready[0]);
  ASSERT_EQ(got, 1) << "the child could not lock " << out;
  ASSERT_TRUE(holder);
  EXPECT_EQ(holder->rfind("pid " + std::to_string(child) + " on ", 0), 0u) << *holder;
  EXPECT_TRUE(fs::exists(out + "/.annamosaic.lock"));
  EXPECT_FALSE(output_lock_holder(out));
}

TEST(OutputLock, TheLockAndTheManifestTakeTheUmaskAsEveryOutputDoes) {
  // A group's shared output folder (umask 002) must stay resumable by each member: the lock file
  // and the manifest were made 0644 whatever the umask, and a colleague's rerun was refused.
  const std::string out = std::string(ANNAMOSAIC_TEST_TMP) + "/lock_umask";
  fs::remove_all(out);
  fs::create_directories(out);
  const mode_t before = umask(002);
  {
    OutputLock lock(out);
    Manifest(out + "/manifest.jsonl").append({1, "done", "fov/0001.h5", "fnv1a64:00", "", {}});
  }
  umask(before);
  for (const char* f : {"/.annamosaic.lock", "/manifest.jsonl"})
    EXPECT_EQ(fs::status(out + f).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::group_write |
                  fs::perms::others_read)
        << f;
}

// A requeued SLURM job whose output folder is still locked by a host that is gone (NFS keeps a
// dead client's lock until its lease ends) waits for the lock a while, instead of failing (exit 2)
// at once; the same holder refuses a job that was not requeued, as before.
TEST(OutputLock, ARequeuedJobWaitsForALockHeldOnAnotherHost) {
  const std::string out = std::string(ANNAMOSAIC_TEST_TMP) + "/lock_requeue";
  fs::remove_all(out);
  fs::create_directories(out);
  const auto hold_for = [&](int seconds) {  // a "run on another node": its holder line, its lock
    int ready[2];
    if (pipe(ready) != 0) return pid_t(-1);
    const pid_t child = fork();
    if (child == 0) {
      const int fd = open((out + "/.annamosaic.lock").c_str(), O_RDWR | O_CREAT, 0666);
      const std::string who = "pid 1 on a-node-that-is-gone since 2026-12-07 10:00:00\n";
      struct flock fl {};
      fl.l_type = F_WRLCK;
      fl.l_whence = SEEK_SET;
      if (fd < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, who.data(), who.size(), 0) < 0 || fcntl(fd, F_SETLK, &fl) != 0) _exit(1);
      char c = 1;
      (void)!write(ready[1], &c, 1);
      sleep(static_cast<unsigned>(seconds));
      _exit(0);  // the lock goes with the process
    }
    close(ready[1]);
    char c = 0;
    const ssize_t got = read(ready[0], &c, 1);
    close(ready[0]);
    return got == 1 ? child : pid_t(-1);
  };
  const auto refusal = [&]() -> std::string {  // OutputLock's refusal, "" if it locked
    try {
      OutputLock lock(out);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  // Not requeued: refused at once, naming the holder.
  unsetenv("SLURM_RESTART_COUNT");
  pid_t child = hold_for(3);
  ASSERT_GT(child, 0);
  const std::string at_once = refusal();
  EXPECT_NE(at_once.find("pid 1 on a-node-that-is-gone"), std::string::npos) << "locked, or: " << at_once;
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  // Requeued: waits until the holder is gone, then holds the folder.
  struct Unset {  // whatever fails below, the later tests of this binary see no requeue
    ~Unset() {
      unsetenv("SLURM_RESTART_COUNT");
      unsetenv("ANNAMOSAIC_LOCK_WAIT_S");
    }
  } unset;
  setenv("SLURM_RESTART_COUNT", "1", 1);
  setenv("ANNAMOSAIC_LOCK_WAIT_S", "30", 1);
  child = hold_for(2);
  ASSERT_GT(child, 0);
  const auto t0 = std::chrono::steady_clock::now();
  {
    OutputLock lock(out);
    EXPECT_TRUE(lock.locked());
    EXPECT_GE(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
  }
  waitpid(child, nullptr, 0);
  // ... but not past ANNAMOSAIC_LOCK_WAIT_S: then refused as before, saying it waited.
  setenv("ANNAMOSAIC_LOCK_WAIT_S", "1", 1);
  child = hold_for(10);
  ASSERT_GT(child, 0);
  const std::string after_wait = refusal();
  EXPECT_NE(after_wait.find("(waited "), std::string::npos) << "locked, or: " << after_wait;
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}
