#pragma once
// Where a --model name points (the same rule for run, reconstruct and evaluate), and whether a
// run can use it.
#include <string>
#include <vector>

namespace annamosaic::cli {

// The model run and reconstruct use when --model is not given: the shipped microtubule model.
inline const std::string kDefaultModel = "anet-microtubules-ngf16.h5";

// A path is taken as given (and only as given: falling back to a file of the same name elsewhere
// would reconstruct with a model nobody chose). A bare name that is not in the working folder is
// looked for in $ANNAMOSAIC_MODELS (folders separated by ':'), the installed
// share/annamosaic/models and, for the binary in its build tree only, the source tree's models/.
// Not found: a UsageError that says where it looked.
// `option` names it in the messages (--model, or train's --init-from).
std::string resolve_model(const std::string& name, const std::string& option = "--model");
// The folders a bare name is looked for in after the working folder, in that order (--version
// prints them).
std::vector<std::string> model_search_dirs();

// The model a run names, checked as run checks it before any work (and `status`, so that
// submit-campaign refuses what the job would): found (UsageError), a readable A-net header
// (InputError naming the file), trained at the run's super-resolution pixel (UsageError saying
// both sizes). Reads the header only, or with `read_arrays` every array too (their checksums:
// run, before it makes its output folder). Returns the resolved path. A run_pixel_nm <= 0 is not
// compared (the run's option check refuses it).
std::string check_model_for_run(const std::string& name, double run_pixel_nm, bool read_arrays = false);
// The resolved model `model_path` was trained with switch id `switch_id` (the structure id M of
// reconstruct/evaluate --switch, campaign.ini's switch-id), or its training is unknown: else a
// UsageError saying which ids it knows (anet::switch_id_refusal; `setting` names where the id was
// given), or an InputError naming `input_file` when one is given (a campaign's campaign.ini).
void check_model_switch(const std::string& model_path, int switch_id, const std::string& setting,
                        const std::string& input_file = "");
// "" or why a model trained at model_pixel_nm cannot reconstruct a run's images of run_pixel_nm.
std::string model_pixel_refusal(const std::string& model, double model_pixel_nm, double run_pixel_nm);

}  // namespace annamosaic::cli
