#include "batch/run_state.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace annamosaic;

namespace {
// A campaign of 9 FoVs whose run finished: every FoV done, mosaic and QC report current.
RunStateFacts finished_campaign() {
  RunStateFacts f;
  f.plan_known = true;
  f.config = "run.ini";
  f.mosaic_current = true;
  OutputStatus& s = f.st;
  s.out_dir = "out";
  s.exists = s.run_started = s.plan_known = true;
  s.planned = s.done = 9;
  s.stitch_summary = s.mosaic_file = s.qc_report = s.qc_current = true;
  return f;
}
}  // namespace

TEST(RunState, FinishedAndFinishedWithFailedFovs) {
  RunStateFacts f = finished_campaign();
  EXPECT_EQ(decide_run_state(f).text, "finished");
  EXPECT_EQ(decide_run_state(f).exit, 0);
  f.st.done = 7, f.st.failed = 2;  // failed FoVs do not keep a campaign from finishing
  const RunState r = decide_run_state(f);
  EXPECT_EQ(r.exit, 5);
  EXPECT_NE(r.text.find("finished with 2 failed FoV(s)"), std::string::npos) << r.text;
}

// FoVs not acquired yet (a campaign run while the microscope acquires) are no failures in words,
// but the campaign is not complete: exit 5, as run's.
TEST(RunState, FovsNotAcquiredYetAreSaidApartFromFailures) {
  RunStateFacts f = finished_campaign();
  f.st.done = 6, f.st.failed = 3, f.st.not_acquired = 3;
  RunState r = decide_run_state(f);
  EXPECT_EQ(r.exit, 5);
  EXPECT_NE(r.text.find("finished with the FoVs acquired so far: 3 not acquired yet"), std::string::npos) << r.text;
  f.st.not_acquired = 2;
  r = decide_run_state(f);
  EXPECT_NE(r.text.find("finished with 1 failed FoV(s) (marked in the mosaic; a rerun tries them again) and 2 not "
                        "acquired yet"),
            std::string::npos)
      << r.text;
  f.st.done = 0, f.st.failed = f.st.not_acquired = 9;
  f.mosaic_current = false, f.st.stitch_summary = false;
  r = decide_run_state(f);
  EXPECT_EQ(r.exit, 5);
  EXPECT_NE(r.text.find("no FoV acquired yet"), std::string::npos) << r.text;
}

TEST(RunState, EveryFovFailedSaysToFixTheCauseNotJustRerun) {
  RunStateFacts f = finished_campaign();
  f.st.done = 0, f.st.failed = 9;  // a column name wrong in every table: run made no mosaic
  f.mosaic_current = false, f.st.stitch_summary = false;
  const RunState r = decide_run_state(f);
  EXPECT_EQ(r.exit, 5);
  EXPECT_NE(r.text.find("every FoV failed, so no mosaic was made: fix the cause"), std::string::npos) << r.text;
}

TEST(RunState, WhatIsLeftSaysWhatARerunDoes) {
  RunStateFacts f = finished_campaign();
  f.st.done = 6;
  RunState r = decide_run_state(f);
  EXPECT_EQ(r.exit, kRunStateNotFinished);
  EXPECT_NE(r.text.find("stopped with 3 FoV(s) not done"), std::string::npos) << r.text;

  f = finished_campaign();
  f.st.done = 8, f.st.damaged_results = 1;  // status --verify found a result changed since
  r = decide_run_state(f);
  EXPECT_EQ(r.exit, kRunStateNotFinished);
  EXPECT_NE(r.text.find("1 FoV result(s) damaged"), std::string::npos) << r.text;

  f = finished_campaign();
  f.mosaic_current = false;
  EXPECT_NE(decide_run_state(f).text.find("the mosaic is out of date"), std::string::npos);
  // Recorded but deleted, or taken by a remake that a signal stopped: said as missing, and the stop.
  f.st.mosaic_file = false;
  f.st.stitch_stopped = "stitch stage stopped during fusion";
  EXPECT_NE(decide_run_state(f).text.find("the mosaic is missing (mosaic.ims); the last stitch stage was stopped (stitch "
                                          "stage stopped during fusion): run the same command again"),
            std::string::npos)
      << decide_run_state(f).text;
  f.st.stitch_stopped.clear();
  f.st.stitch_summary = false;
  EXPECT_NE(decide_run_state(f).text.find("the mosaic is not made yet"), std::string::npos);
  f.st.mosaic_file = true;  // there, but its record deleted (or a remake stopped after writing it)
  EXPECT_NE(decide_run_state(f).text.find("the mosaic there is not recorded (no stitch_summary.json)"), std::string::npos);
  f.st.mosaic_file = false;
  f.st.stitch_summary_damaged = true;
  EXPECT_NE(decide_run_state(f).text.find("unreadable stitch_summary.json"), std::string::npos);

  f = finished_campaign();
  f.st.qc_current = false;
  r = decide_run_state(f);
  EXPECT_EQ(r.exit, kRunStateNotFinished);
  EXPECT_NE(r.text.find("the QC report is older than the mosaic"), std::string::npos) << r.text;
}

TEST(RunState, OtherSettingsOfTheFoldersOwnConfigurationDoNotSendTheUserInCircles) {
  RunStateFacts f = finished_campaign();
  f.mosaic_current = false;
  f.mosaic_why = "a setting changed since it was made: search-um 3.0 (was 2.5)";
  EXPECT_NE(decide_run_state(f).text.find("or ask status of the output folder"), std::string::npos);
  // Status of the output folder itself (probe77: told to ask it), named by another path to it.
  const std::filesystem::path out = std::filesystem::temp_directory_path() / "run_state_circle" / "out";
  std::filesystem::create_directories(out);
  std::ofstream(out / "config.ini") << "[run]\n";
  f.st.out_dir = out.string();
  f.config = (out / ".." / "out" / "config.ini").string();
  const RunState r = decide_run_state(f);
  EXPECT_EQ(r.text.find("ask status of the output folder"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("search-um 3.0 (was 2.5)): a run of this configuration remakes it"), std::string::npos) << r.text;
}

TEST(RunState, RunningOrUnknownIsNeverFinished) {
  RunStateFacts f = finished_campaign();
  f.st.running = "pid 7 on node1 since 2026-12-04 10:00:00";
  EXPECT_EQ(decide_run_state(f).text, "running (pid 7 on node1 since 2026-12-04 10:00:00)");
  EXPECT_EQ(decide_run_state(f).exit, kRunStateNotFinished);

  f = finished_campaign();
  f.st.done = 4;
  f.st.lock_error = "fcntl: function not implemented";
  f.st.since_last_record_s = 150;
  const RunState r = decide_run_state(f);
  EXPECT_EQ(r.exit, kRunStateNotFinished);
  EXPECT_NE(r.text.find("unknown whether a run goes on (fcntl: function not implemented); the last FoV was recorded 2 min 30 s ago"),
            std::string::npos)
      << r.text;
}

TEST(RunState, NotStartedAndUnreadable) {
  RunStateFacts f;
  f.config = "run.ini";
  f.will_simulate = true;  // no output folder, a campaign still to simulate
  EXPECT_NE(decide_run_state(f).text.find("simulated first, from the [simulate] section of run.ini"), std::string::npos);
  f.will_simulate = false;
  f.plan_known = true;
  f.relative_to = "/home/me";
  EXPECT_EQ(decide_run_state(f).text, "not started (no output folder yet, relative to the working folder /home/me)");
  f.plan_known = false;
  f.campaign_error = "data/run1: no campaign here";
  EXPECT_EQ(decide_run_state(f).exit, 2);

  f = finished_campaign();
  f.st.problem = "out/manifest.jsonl: not a regular file";
  EXPECT_EQ(decide_run_state(f).exit, 2);
  // Damaged lines in it are not "cannot read" (submit-campaign would give the grid up): the next
  // run moves them aside and redoes what they were.
  f = finished_campaign();
  f.st.manifest_damaged = "out/manifest.jsonl: line 4 is not a FoV record (edited, or damaged)";
  EXPECT_EQ(decide_run_state(f).exit, kRunStateNotFinished);
  EXPECT_NE(decide_run_state(f).text.find("line 4 is not a FoV record (edited, or damaged): run the same command again"),
            std::string::npos);
  f = finished_campaign();
  f.st.run_started = false, f.st.done = 0;
  EXPECT_EQ(decide_run_state(f).text, "not started (out holds no run's records yet)");
}


// A stop during the OME-TIFF export (after mosaic.ims was recorded, before the QC report): said as
// the stop it was, with the report missing too (probe89: "export is missing" alone).
TEST(RunState, AStopDuringTheExportIsSaidWithWhatItLeftUndone) {
  RunStateFacts f = finished_campaign();
  f.mosaic_current = false, f.mosaic_export_only = true;
  f.st.qc_report = f.st.qc_current = false;
  f.st.stitch_stopped = "OME-TIFF export stopped (level 2, channel 1)";
  RunState r = decide_run_state(f);
  EXPECT_EQ(r.exit, 75);
  EXPECT_EQ(r.text, "FoVs and mosaic finished, its OME-TIFF export is missing or not the one the run wrote, and the QC "
                    "report is missing; the last stitch stage was stopped (OME-TIFF export stopped (level 2, channel 1)): "
                    "run the same command again (it exports mosaic.ims anew and writes the report)");
  f.st.qc_report = true, f.st.stitch_stopped.clear();  // an earlier run's report, older than the mosaic
  r = decide_run_state(f);
  EXPECT_EQ(r.text, "FoVs and mosaic finished, its OME-TIFF export is missing or not the one the run wrote, and the QC "
                    "report is older than the mosaic: run the same command again (it exports mosaic.ims anew and writes "
                    "the report)");
  f.st.qc_current = true;  // the export alone deleted since
  r = decide_run_state(f);
  EXPECT_EQ(r.text, "FoVs and mosaic finished, its OME-TIFF export is missing or not the one the run wrote: run the same "
                    "command again (it exports mosaic.ims anew)");
}
