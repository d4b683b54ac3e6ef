#include "pyramid/metadata_text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace annamosaic {

// 12 significant digits: sums such as 40.0 + 2.16 print as 42.16, not 42.160000000000004.
std::string format_number(double v) { return fmt::format("{:.12g}", v); }

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      // XML 1.0 has no control characters but tab, line feed and carriage return (an attribute
      // of another writer's .ims carried into the OME document would make it unreadable).
      default: out += (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') ? '?' : c;
    }
  }
  return out;
}

std::int32_t ome_color(const std::string& rgb) {
  std::istringstream in(rgb);
  double c[3];
  if (!(in >> c[0] >> c[1] >> c[2])) throw std::invalid_argument("colour '" + rgb + "' is not \"r g b\"");
  std::string rest;
  if (in >> rest) throw std::invalid_argument("colour '" + rgb + "' has more than 3 components");
  std::uint32_t v = 0;
  for (double x : c) {
    if (!(x >= 0 && x <= 1)) throw std::invalid_argument("colour '" + rgb + "': components must be in 0..1");
    v = (v << 8) | static_cast<std::uint32_t>(std::lround(x * 255));
  }
  v = (v << 8) | 0xFFu;
  return static_cast<std::int32_t>(v);  // two's complement, as OME stores it
}

std::string bdv_xml(const MosaicTextInfo& info, const std::string& ims_relative_path) {
  const std::string px = format_number(info.pixel_um);
  std::string s;
  s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SpimData version=\"0.2\">\n";
  s += "  <BasePath type=\"relative\">.</BasePath>\n  <SequenceDescription>\n";
  s += "    <ImageLoader format=\"ims\">\n      <ims type=\"relative\">" + xml_escape(ims_relative_path) +
       "</ims>\n    </ImageLoader>\n    <ViewSetups>\n";
  for (std::size_t c = 0; c < info.channel_names.size(); ++c) {
    s += "      <ViewSetup>\n        <id>" + std::to_string(c) + "</id>\n        <name>" +
         xml_escape(info.channel_names[c]) + "</name>\n        <size>" + std::to_string(info.width) + " " +
         std::to_string(info.height) + " 1</size>\n        <voxelSize>\n          <unit>µm</unit>\n          <size>" +
         px + " " + px + " " + px + "</size>\n        </voxelSize>\n        <attributes>\n" +
         "          <illumination>0</illumination>\n          <channel>" + std::to_string(c) +
         "</channel>\n          <tile>0</tile>\n          <angle>0</angle>\n        </attributes>\n      </ViewSetup>\n";
  }
  s += "      <Attributes name=\"illumination\">\n        <Illumination>\n          <id>0</id>\n          <name>0</name>\n"
       "        </Illumination>\n      </Attributes>\n";
  s += "      <Attributes name=\"channel\">\n";
  for (std::size_t c = 0; c < info.channel_names.size(); ++c)
    s += "        <Channel>\n          <id>" + std::to_string(c) + "</id>\n          <name>" +
         xml_escape(info.channel_names[c]) + "</name>\n        </Channel>\n";
  s += "      </Attributes>\n";
  s += "      <Attributes name=\"tile\">\n        <Tile>\n          <id>0</id>\n          <name>0</name>\n"
       "        </Tile>\n      </Attributes>\n";
  s += "      <Attributes name=\"angle\">\n        <Angle>\n          <id>0</id>\n          <name>0</name>\n"
       "        </Angle>\n      </Attributes>\n    </ViewSetups>\n";
  s += "    <Timepoints type=\"range\">\n      <first>0</first>\n      <last>0</last>\n    </Timepoints>\n";
  s += "  </SequenceDescription>\n  <ViewRegistrations>\n";
  // BigDataViewer maps voxel indices (pixel centres) to space; ExtMin in the .ims is the first
  // pixel's edge: half a pixel apart, so both views put the mosaic at the same place. z too: the
  // .ims slice spans 0..1 pixel, its centre at half a pixel (probe80).
  const double centre_x_um = info.origin_x_um + info.pixel_um / 2, centre_y_um = info.origin_y_um + info.pixel_um / 2;
  const std::string centre_z_um = format_number(info.pixel_um / 2);
  for (std::size_t c = 0; c < info.channel_names.size(); ++c)
    s += "    <ViewRegistration timepoint=\"0\" setup=\"" + std::to_string(c) +
         "\">\n      <ViewTransform type=\"affine\">\n        <Name>calibration</Name>\n        <affine>" + px +
         " 0.0 0.0 " + format_number(centre_x_um) + " 0.0 " + px + " 0.0 " + format_number(centre_y_um) +
         " 0.0 0.0 " + px + " " + centre_z_um + "</affine>\n      </ViewTransform>\n    </ViewRegistration>\n";
  s += "  </ViewRegistrations>\n</SpimData>\n";
  return s;
}

std::string ome_xml(const MosaicTextInfo& info) {
  const std::string px = format_number(info.pixel_um);
  const std::size_t nc = info.channel_names.size();
  std::string s;
  s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<OME xmlns=\"http://www.openmicroscopy.org/Schemas/OME/2016-06\" "
       "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
       "xsi:schemaLocation=\"http://www.openmicroscopy.org/Schemas/OME/2016-06 "
       "http://www.openmicroscopy.org/Schemas/OME/2016-06/ome.xsd\" Creator=\"annamosaic\">\n";
  s += "  <Image ID=\"Image:0\" Name=\"" + xml_escape(info.name) + "\">\n";
  if (!info.description.empty()) s += "    <Description>" + xml_escape(info.description) + "</Description>\n";
  s += "    <Pixels ID=\"Pixels:0\" DimensionOrder=\"XYCZT\" Type=\"uint16\" SignificantBits=\"16\" "
       "BigEndian=\"false\" Interleaved=\"false\" SizeX=\"" +
       std::to_string(info.width) + "\" SizeY=\"" + std::to_string(info.height) + "\" SizeC=\"" +
       std::to_string(nc) + "\" SizeZ=\"1\" SizeT=\"1\"" +
       // The schema's PhysicalSize is a positive number: left out for a file that gives none.
       (info.pixel_um > 0 ? " PhysicalSizeX=\"" + px + "\" PhysicalSizeXUnit=\"µm\" PhysicalSizeY=\"" + px +
                                "\" PhysicalSizeYUnit=\"µm\""
                          : std::string()) +
       ">\n";
  for (std::size_t c = 0; c < nc; ++c) {
    s += "      <Channel ID=\"Channel:0:" + std::to_string(c) + "\" Name=\"" + xml_escape(info.channel_names[c]) +
         "\" SamplesPerPixel=\"1\"";
    if (c < info.channel_colors.size()) s += " Color=\"" + std::to_string(ome_color(info.channel_colors[c])) + "\"";
    s += ">";
    if (c < info.channel_scales.size()) s += "<AnnotationRef ID=\"Annotation:" + std::to_string(c) + "\"/>";
    s += "<LightPath/></Channel>\n";
  }
  for (std::size_t c = 0; c < nc; ++c)
    s += "      <TiffData IFD=\"" + std::to_string(c) + "\" FirstC=\"" + std::to_string(c) +
         "\" FirstZ=\"0\" FirstT=\"0\" PlaneCount=\"1\"/>\n";
  for (std::size_t c = 0; c < nc; ++c)  // the stage position, as Bio-Formats/QuPath read it
    s += "      <Plane TheC=\"" + std::to_string(c) + "\" TheZ=\"0\" TheT=\"0\" PositionX=\"" +
         format_number(info.origin_x_um) + "\" PositionXUnit=\"µm\" PositionY=\"" + format_number(info.origin_y_um) +
         "\" PositionYUnit=\"µm\"/>\n";
  // The mosaic's own annotation after the channels' (IDs Annotation:0..C-1 are theirs).
  const std::string mosaic_annotation = "Annotation:" + std::to_string(std::min(info.channel_scales.size(), nc));
  s += "    </Pixels>\n";
  if (!info.attributes.empty()) s += "    <AnnotationRef ID=\"" + mosaic_annotation + "\"/>\n";
  s += "  </Image>\n";
  if (!info.channel_scales.empty() || !info.attributes.empty()) {
    s += "  <StructuredAnnotations>\n";
    for (std::size_t c = 0; c < info.channel_scales.size() && c < nc; ++c) {
      s += "    <MapAnnotation ID=\"Annotation:" + std::to_string(c) + "\" Namespace=\"annamosaic/channel\"><Value>";
      s += "<M K=\"channel\">" + xml_escape(info.channel_names[c]) + "</M>";
      s += "<M K=\"value\">stored / " + format_number(info.channel_scales[c]) + "</M>";
      if (c < info.channel_descriptions.size() && !info.channel_descriptions[c].empty())
        s += "<M K=\"description\">" + xml_escape(info.channel_descriptions[c]) + "</M>";
      s += "</Value></MapAnnotation>\n";
    }
    if (!info.attributes.empty()) {
      s += "    <MapAnnotation ID=\"" + mosaic_annotation + "\" Namespace=\"annamosaic/mosaic\"><Value>";
      for (const auto& [key, value] : info.attributes)
        s += "<M K=\"" + xml_escape(key) + "\">" + xml_escape(value) + "</M>";
      s += "</Value></MapAnnotation>\n";
    }
    s += "  </StructuredAnnotations>\n";
  }
  s += "</OME>\n";
  return s;
}

}  // namespace annamosaic
