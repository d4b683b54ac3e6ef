// The INI dialect of options files and campaign.ini (core/ini_text.hpp).
#include "core/ini_text.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

using namespace annamosaic;

namespace {
std::string error_of(const std::string& text) {
  try {
    parse_ini_text(text, "my.ini");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(IniText, SectionsKeysCommentsAndWindowsFiles) {
  const auto e = parse_ini_text(
      "\xEF\xBB\xBF# made by hand\r\n; also a comment\r\nthreads = 2  # laptop\r\n[render]  ; the render step\r\n"
      "pixel-nm=10\r\ninput = run#2/my table.csv\r\ndelimiter = ;  # semicolon\r\nname =\r\n"
      "campaign = /data/Plate #2/grid ; the second plate\r\n",
      "my.ini");
  ASSERT_EQ(e.size(), 6u);
  EXPECT_EQ(e[0].section, "");
  EXPECT_EQ(e[0].key, "threads");
  EXPECT_EQ(e[0].value, "2");
  EXPECT_EQ(e[0].line, 3);
  EXPECT_EQ(e[1].section, "render");
  EXPECT_EQ(e[1].value, "10");
  EXPECT_EQ(e[2].value, "run#2/my table.csv");  // '#' inside a value is kept, spaces too
  EXPECT_EQ(e[3].value, ";");                     // a delimiter, not a comment
  EXPECT_EQ(e[4].value, "");
  EXPECT_EQ(e[5].value, "/data/Plate #2/grid");  // a '#' in a word is a folder's name, not a comment
}

TEST(IniText, ACommentHoldingAnEqualSignIsNoKey) {
  try {
    parse_ini_text("verbose  # set verbose = true\n", "my.ini");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("my.ini:1: 'verbose' is not 'key = value'"), std::string::npos) << e.what();
  }
}

TEST(IniText, AmbiguousValuesAreRefusedNamingTheLine) {
  EXPECT_NE(error_of("[run]\noutput = \"res 1\n").find("my.ini:2: the value of 'output' opens a quote (\") that the line does not close"),
            std::string::npos);
  EXPECT_NE(error_of("[run]\noutput = 'res' 2\n").find("my.ini:2: the value of 'output' goes on after its closing quote"),
            std::string::npos);
  EXPECT_NE(error_of("output = \"$HOME/out\"\n").find("shell variable"), std::string::npos);  // a shell expands it there
  EXPECT_NE(error_of("output = ~/out\n").find("my.ini:1: the value of 'output' starts with '~'"), std::string::npos);
  EXPECT_NE(error_of("output = $HOME/out\n").find("shell variable"), std::string::npos);
  EXPECT_NE(error_of("output = ${SCRATCH}/out\n").find("shell variable"), std::string::npos);
  EXPECT_EQ(error_of("columns = x=x [$]\n"), "");  // a '$' that is no variable
  EXPECT_NE(error_of("[run\n").find("my.ini:1: '[run': a section is written [name]"), std::string::npos);
  EXPECT_NE(error_of("pixel-nm 10\n").find("is not 'key = value'"), std::string::npos);
  EXPECT_NE(error_of(" = 10\n").find("no key before '='"), std::string::npos);
}

// Quotes as a shell reads them: what a run writes into its config.ini (any folder name) reads
// back as it was, and so do quoted values written by hand.
TEST(IniText, QuotedValuesReadAsAShellReadsThem) {
  const auto e = parse_ini_text("a = \"res 1\"\nb = 'Plate # 2 ; x '  # a comment\nc = \"it's \\\"q\\\" \\$HOME\"\nd = '$HOME'\n", "my.ini");
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].value, "res 1");
  EXPECT_EQ(e[1].value, "Plate # 2 ; x ");
  EXPECT_EQ(e[2].value, "it's \"q\" $HOME");
  EXPECT_EQ(e[3].value, "$HOME");  // single quotes: literal
  for (const std::string v : {"plain/path", "run#2", "Plate # 2", "res ; 2", " lead", "trail ", "$HOME/x", "~/x",
                              "'q'", "\"dq\"", "it's $HOME \"q\" `x` \\", ";", "", "a=b", "x # y ; z"}) {
    const std::string text = "k = " + ini_value_text(v) + "\n";
    const auto back = parse_ini_text(text, "w.ini");
    ASSERT_EQ(back.size(), 1u) << text;
    EXPECT_EQ(back[0].value, v) << text;
  }
  EXPECT_EQ(ini_value_text("plain/path"), "plain/path");  // as written where it reads back so
  EXPECT_EQ(ini_value_text("Plate # 2"), "'Plate # 2'");
  EXPECT_THROW(ini_value_text("two\nlines"), InputError);
}
