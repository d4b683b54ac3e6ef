#pragma once
// Streaming writer of the pyramidal mosaic (mosaic.ims, Imaris layout, see
// shared/reference/formats.md) plus its BigDataViewer sidecar (mosaic.xml), fed block by block
// through the BlockSink interface.
//
// File: uint16 data sets /DataSet/ResolutionLevel r/TimePoint 0/Channel c/Data of dims
// (1, Y, X) padded up to multiples of the (1, 512, 1024) chunk, shuffle + deflate; levels and
// rounding as in pyramid.hpp; per level and channel Histogram (256 bins) and Histogram1024,
// HistogramMin/Max (smallest/largest value of that level), ImageSizeX/Y/Z, ImageBlockSizeX/Y/Z;
// /DataSetInfo with Image (X, Y, Z, Unit "um", ExtMin/ExtMax edges in um, Name, Description,
// RecordingDate), Channel c (Name, Description, Color, ColorRange = 0.1-99.9 percentile of level
// 0, ColorOpacity, QuantisationScale, QuantisationRule), TimeInfo, ImarisDataSet, Log, and an
// "Annamosaic" group with the pyramid/histogram rules and the caller's QC attributes; a 256 x 256
// RGBA /Thumbnail. All attributes except NumberOfDataSets are 1-D arrays of 1-character strings.
// Padding (beyond ImageSizeX/Y) is 0.
//
// Streaming: write_block() may be called from several threads and in any block order. Each call
// compresses the block's level-0 chunks at once (TBB, all channels) and hands its 2x2-downsampled
// image to level 1; a level-r chunk (r >= 1) is assembled in memory from those contributions and
// compressed, written and downsampled into level r+1 as soon as its last pixel arrives. With
// blocks arriving roughly row by row, memory is about one chunk row per level and channel
// (~ width x 512 x 2 bytes x channels in total for all levels, independent of the height) plus the
// bounded queue of compressed chunks; any other order is also correct but holds more chunks.
//
// Writing (correct with Debian's HDF5 1.10.8): ONE writer thread on rank 0 owns the HDF5 file,
// opened with the serial sec2 driver, and stores the precompressed chunks with H5Dwrite_chunk
// (never through the MPI-IO driver). Compression runs on every thread of every rank.
//
// MPI (options.comm with more than one rank): every rank constructs the writer, calls open() and
// finish() collectively and writes a disjoint subset of the blocks (any split is correct; the
// least data moves when options.block_row_owner names the split actually used). Ranks other than 0 send their compressed
// chunks to rank 0's writer; a level-r chunk (r >= 1) is assembled on the rank that owns the
// block row containing its top-left level-0 pixel (cyclic), and raw contributions for it are
// sent there. All of a rank's MPI traffic runs on one communication thread (non-blocking calls,
// short sleeps when idle, so no core is burnt spinning), while the application's threads may
// use MPI too: MPI must be initialised with MPI_THREAD_MULTIPLE (checked; std::runtime_error
// otherwise). Every rank learns the outcome of finish(): on failure all ranks throw the same
// message. A failure that leaves a rank unable to complete its share after the collective
// check (out of memory while assembling a remote chunk) calls MPI_Abort naming the rank.
//
// Crash safety: rank 0 writes "<path>.tmp.<pid>" and renames it to `path` only after the file
// is complete and closed; mosaic.xml is written (atomically) after that rename, so both final
// names mean a complete mosaic. Without finish() (exception, abort) the temporary file is removed
// by the destructor; after a kill it is left under its temporary name only.
// HDF5 file locking fails on some shared file systems: set HDF5_USE_FILE_LOCKING=FALSE there.
#include <mpi.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pyramid/chunk_codec.hpp"
#include "sink/block_sink.hpp"

namespace annamosaic {

struct ImsWriterOptions {
  int deflate_level = 2;                // 1..9; formats.md recommends 1-4
  // Deflate encoder (chunk_codec.hpp); the file format is the same with any. libdeflate: the
  // fastest here at an equal or smaller size.
  DeflateEncoder encoder = DeflateEncoder::Libdeflate;
  std::size_t queue_mb = 256;           // compressed chunks waiting for the writer (and, on ranks
                                        // > 0, for MPI sends) before write_block() waits
  bool write_bdv_xml = true;            // "<path without .ims>.xml" next to the file
  std::string description;              // DataSetInfo/Image Description ("" = generated)
  std::string recording_date;           // "YYYY-MM-DD HH:MM:SS"; "" = now (UTC)
  // QC attributes stored in /DataSetInfo/Annamosaic as "QC <key>" (shown by `annamosaic inspect`).
  std::vector<std::pair<std::string, std::string>> qc;
  MPI_Comm comm = MPI_COMM_NULL;        // MPI_COMM_NULL or one rank: this process writes alone
  // With several ranks: the rank that writes each level-0 block row (blocks_y() entries, the same
  // on every rank); a level-r chunk is assembled on the owner of the block row holding its first
  // pixel. Empty: row % ranks. Give the split the blocks are really written with (e.g. fusion's
  // contiguous ranges), so that pyramid pieces rarely cross ranks.
  std::vector<int> block_row_owner;
  // Called by the process that writes the file just before the finished file replaces whatever
  // was at its path: files that describe the previous one (an export of it) go then, neither
  // earlier (a stop before that keeps the old file, which they still describe) nor later (a
  // failure or a kill after the replacement would leave them beside the new file).
  std::function<void()> before_replacing;
};

struct ImsWriteStats {
  std::size_t levels = 0;
  std::uint64_t chunks = 0;             // all levels and channels, all ranks
  std::uint64_t raw_bytes = 0;          // uncompressed chunk bytes (padded chunks)
  std::uint64_t pixel_bytes = 0;        // true pixels x 2 bytes, all levels and channels
  std::uint64_t compressed_bytes = 0;   // chunk bytes after shuffle + deflate
  std::uint64_t file_bytes = 0;         // size of the finished .ims
  double seconds = 0;                   // open() to the end of finish()
};

class ImsWriter final : public BlockSink {
 public:
  // Validates nothing and touches no file: call open().
  ImsWriter(std::string path, MosaicInfo info, ImsWriterOptions options = {});
  ~ImsWriter() override;  // without a successful finish(): stops the threads, removes the temp file
  ImsWriter(const ImsWriter&) = delete;
  ImsWriter& operator=(const ImsWriter&) = delete;

  // Collective. Checks the mosaic description (std::invalid_argument: empty size, no channels,
  // block_px not a multiple of 1024, bad colour), creates the temporary file with every data set
  // (IoError naming the path when that fails, on every rank) and starts the writer thread(s).
  void open();
  // BlockSink: see block_sink.hpp. std::invalid_argument for a block outside the grid, a wrong
  // channel count or size, or a block written twice on this rank.
  void write_block(std::size_t bx, std::size_t by, const std::vector<ImageView<const std::uint16_t>>& channels) override;
  // Collective. Fails (same exception on every rank, with the path) if blocks are missing or
  // were written twice, or on any write error (disk full, permission): IoError for I/O.
  void finish() override;

  const ImsWriteStats& stats() const;  // complete after finish() (all ranks)
  const std::string& path() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// "out/mosaic.ims" -> "out/mosaic.xml"
std::string bdv_xml_path(const std::string& ims_path);

}  // namespace annamosaic
