#pragma once
// Writes a localization table as ThunderSTORM CSV (quoted header, nm), the format most tools
// read: "id","frame","x [nm]","y [nm]"[,"z [nm]"][,"intensity [photon]"][,"uncertainty [nm]"].
// Atomic (temporary file + rename); byte-for-byte reproducible for a given table.
#include <string>

#include "loc/loc_table.hpp"

namespace annamosaic {

void write_thunderstorm_csv(const std::string& path, const LocTable& table);

}  // namespace annamosaic
