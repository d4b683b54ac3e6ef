#pragma once
// Versions of annamosaic and of every library it was built with (for --version and for the
// provenance written next to outputs).
#include <string>

namespace annamosaic {

std::string annamosaic_version();
// One "name version" line per linked library.
std::string library_versions();

}  // namespace annamosaic
