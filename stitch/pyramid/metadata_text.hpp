#pragma once
// Pure text builders for the mosaic's metadata: numbers as IMS attribute text, the
// BigDataViewer SpimData sidecar (mosaic.xml) and the OME-XML of the pyramidal OME-TIFF.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace annamosaic {

// Shortest decimal text that reads back to the same double ("0.02", "663.6", "1e-05").
std::string format_number(double v);
// Escapes & < > " ' for XML text and attribute values.
std::string xml_escape(const std::string& s);

// "r g b" (each 0..1, Imaris convention) -> OME's signed 32-bit RGBA integer (alpha 255);
// std::invalid_argument for anything else.
std::int32_t ome_color(const std::string& rgb);

struct MosaicTextInfo {
  std::string name;                     // image name
  std::size_t width = 0, height = 0;    // level 0, pixels
  double pixel_um = 0;                  // square pixels
  double origin_x_um = 0, origin_y_um = 0;  // stage position of pixel (0, 0)'s outer corner
  std::vector<std::string> channel_names;
  std::vector<std::string> channel_colors;  // "r g b" per channel
  // Per channel, or empty: how stored integers map to values (value = stored / scale) and what
  // the channel is; the OME document carries them as a MapAnnotation per channel.
  std::vector<double> channel_scales;
  std::vector<std::string> channel_descriptions;
  // What the mosaic is (the .ims DataSetInfo/Image Description: which tiles are missing...) and
  // its annamosaic attributes (QC: failed FoVs, residuals...), or empty: the OME document carries
  // them as the Image's Description and a MapAnnotation (namespace "annamosaic/mosaic").
  std::string description;
  std::vector<std::pair<std::string, std::string>> attributes;
};

// SpimData 0.2 document: ImageLoader format "ims" with the .ims path relative to the XML's
// folder, one ViewSetup per channel (id = IMS channel index, size "X Y 1", voxel size in um),
// one time point (range 0..0) and per setup a ViewRegistration whose row-major 3x4 affine maps
// pixels to stage um (voxel size on the diagonal, the origin as translation). Each setup also
// names illumination, angle and tile 0, which BigStitcher requires of every view.
std::string bdv_xml(const MosaicTextInfo& info, const std::string& ims_relative_path);

// OME 2016-06 document for a uint16 XYCZT image with one IFD per channel (IFD c = channel c;
// reduced levels live in SubIFDs, which OME's IFD numbering does not count), PhysicalSizeX/Y in um;
// with channel_scales, each Channel refers to a MapAnnotation (namespace "annamosaic/channel")
// holding "value" = "stored / SCALE" and "description", so OMERO and QuPath users see the key.
// Elements in the order the 2016-06 schema's sequences require (Image: Description before
// Pixels; Channel: AnnotationRef before LightPath), so that validating readers accept it.
std::string ome_xml(const MosaicTextInfo& info);

}  // namespace annamosaic
