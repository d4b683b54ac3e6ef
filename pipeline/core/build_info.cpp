#include "core/build_info.hpp"

#include <H5public.h>
#include <boost/version.hpp>
#include <fmt/format.h>
#include <libdeflate.h>
#include <xxhash.h>
#include <mpi.h>
#include <png.h>
#include <spdlog/version.h>
#include <tbb/version.h>
#include <tiffio.h>
#ifdef ANNAMOSAIC_FFT_FFTW
#include <fftw3.h>
#endif
#ifdef ANNAMOSAIC_HAVE_TORCH
#include <torch/version.h>
#endif

#ifndef ANNAMOSAIC_VERSION
#define ANNAMOSAIC_VERSION "0.1.0"
#endif

namespace annamosaic {

std::string annamosaic_version() { return ANNAMOSAIC_VERSION; }

std::string library_versions() {
  std::string s;
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(mpi, &len);  // callable before MPI_Init
  std::string mpi_s(mpi, static_cast<std::size_t>(len));
  if (auto nl = mpi_s.find_first_of("\n,"); nl != std::string::npos) mpi_s.resize(nl);
  unsigned h5maj = 0, h5min = 0, h5rel = 0;
  H5get_libversion(&h5maj, &h5min, &h5rel);
  s += fmt::format("MPI       {}\n", mpi_s);
  s += fmt::format("HDF5      {}.{}.{}{}\n", h5maj, h5min, h5rel,
#ifdef H5_HAVE_PARALLEL
                   " (parallel)"
#else
                   " (serial)"
#endif
  );
  std::string tiff = TIFFGetVersion();
  if (auto nl = tiff.find('\n'); nl != std::string::npos) tiff.resize(nl);
  s += fmt::format("libtiff   {}\n", tiff);
  s += fmt::format("libpng    {}\n", png_get_libpng_ver(nullptr));
  s += fmt::format("deflate   libdeflate {} (mosaic chunks)\n", LIBDEFLATE_VERSION_STRING);
  s += fmt::format("xxHash    {}.{}.{} (checksums, built in)\n", XXH_VERSION_MAJOR, XXH_VERSION_MINOR, XXH_VERSION_RELEASE);
  s += fmt::format("TBB       {}\n", TBB_runtime_version());
  s += fmt::format("Boost     {}.{}.{}\n", BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000, BOOST_VERSION % 100);
  s += fmt::format("spdlog    {}.{}.{}, fmt {}\n", SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH, FMT_VERSION);
#ifdef ANNAMOSAIC_FFT_FFTW
  s += fmt::format("FFT       {}\n", fftwf_version);
#else
  s += "FFT       LibTorch pocketfft\n";
#endif
#ifdef ANNAMOSAIC_HAVE_TORCH
  s += fmt::format("LibTorch  {}\n", TORCH_VERSION);
#endif
  return s;
}

}  // namespace annamosaic
