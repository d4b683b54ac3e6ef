#pragma once
// The simulated specimen: a continuous object in nm over a whole campaign region (not one tile),
// so overlapping FoVs see the same structures. It is never held whole in memory: labels_in()
// regenerates, deterministically from the seed, exactly the labels inside any rectangle.
//
// Structures (anet.md "Simulation"):
// - Microtubules: semiflexible filaments (discrete worm-like chain: heading changes by a
//   Gaussian angle of variance segment/persistence per segment), crossing at random and
//   optionally bundled (companion filaments running alongside at a fixed spacing). Filaments
//   start in 20 um tiles with a count ~ Poisson(density x area x cell coverage); each tile and
//   filament has its own random stream, so any region is reproducible on its own.
// - Nuclear pores: non-overlapping rings of 150 nm diameter with 8 evenly spaced binding sites
//   and a random rotation, inside nuclei. One candidate pore per 250 nm lattice cell, placed
//   so that rings can never overlap.
// Cell coverage: cells are discs on a jittered lattice; outside them the density is zero, so
// some FoVs of a grid are nearly empty, and a linear gradient across the region varies the
// density between cells (per-FoV localization counts spread over orders of magnitude).
#include <cstdint>
#include <string>
#include <vector>

#include "sim/geometry.hpp"

namespace annamosaic {

enum class Structure { Microtubules, NuclearPores };
Structure parse_structure(const std::string& name);  // "microtubules" | "nuclear-pores" (InputError otherwise)
const char* structure_name(Structure s);
int structure_switch_id(Structure s);  // the A-net's switch M: microtubule 0, nuclear pore 1

struct SpecimenOptions {
  Structure structure = Structure::Microtubules;
  RectNm region;                       // where structures may be (the whole campaign)
  std::uint64_t seed = 1;
  // Microtubules
  double filaments_per_100um2 = 6.0;   // filament starts per 100 um^2 of fully covered area
  double persistence_um = 20.0;        // in cells microtubules bend far more than their ~mm in vitro value
  double segment_nm = 100.0;           // chain step
  double min_length_um = 5.0, max_length_um = 20.0;
  double bundle_fraction = 0.2;        // fraction of filaments that get a companion
  double bundle_spacing_nm = 50.0;
  double labels_per_um = 30.0;         // label density along a filament
  double label_offset_nm = 8.0;        // antibody linker: labels scatter around the filament axis
  // Nuclear pores
  double pore_diameter_nm = 150.0;
  int pore_sites = 8;
  double pore_occupancy = 0.35;        // fraction of 250 nm lattice cells holding a pore inside nuclei
  double labels_per_site = 2.0;        // Poisson mean
  double site_spread_nm = 5.0;
  // Cells
  double cell_spacing_um = 45.0;       // lattice spacing of cells
  double cell_radius_um = 24.0;        // mean radius (varies +-25%)
  double cell_fraction = 0.8;          // fraction of lattice sites that hold a cell
  double gradient = 0.7;               // density falls linearly by this fraction across the region (x)
};

class Specimen {
 public:
  explicit Specimen(SpecimenOptions opt);
  const SpecimenOptions& options() const { return opt_; }

  // Every label whose position lies in `rect` (nm, specimen coordinates). Deterministic: the
  // same label appears with the same position in every rectangle that contains it.
  std::vector<PointNm> labels_in(const RectNm& rect) const;
  // Cell coverage in [0, 1] at a point (0 outside cells), times the density gradient.
  double density_at(double x_nm, double y_nm) const;
  // Pore centres in `rect` (ground truth for symmetry tests); empty for microtubules.
  std::vector<PointNm> pore_centres_in(const RectNm& rect) const;

 private:
  void filament_labels(std::int64_t tx, std::int64_t ty, const RectNm& rect, std::vector<PointNm>& out) const;
  void pore_labels(const RectNm& rect, std::vector<PointNm>& out) const;
  double cell_cover(double x_nm, double y_nm, double radius_scale) const;
  SpecimenOptions opt_;
};

}  // namespace annamosaic
