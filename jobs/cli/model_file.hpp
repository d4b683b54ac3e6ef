#pragma once
// Where a --model name points: the same rule for run, reconstruct and evaluate.
#include <string>

namespace annamosaic::cli {

// A path is taken as given (and only as given: falling back to a file of the same name elsewhere
// would reconstruct with a model nobody chose). A bare name that is not in the working folder is
// looked for in $ANNAMOSAIC_MODELS, the installed share/annamosaic/models and the source tree's
// models/. Not found: a UsageError that says where it looked.
std::string resolve_model(const std::string& name);

}  // namespace annamosaic::cli
