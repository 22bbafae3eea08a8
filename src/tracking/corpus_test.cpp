#include "tracking/tracking.hpp"
// The header under test comes first: it must compile on its own.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include "tracking/test_support.hpp"

namespace carepost::tracking {
namespace {

namespace fs = std::filesystem;

const std::string base = "https://track.clinic.example.org";

fs::path corpus_dir()
{
    const char* env = std::getenv("CAREPOST_SHARED_DIR");
    return fs::path(env ? env : CAREPOST_SHARED_DIR) / "corpus" / "email-templates";
}

std::string read_file(const fs::path& p)
{
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// The independent oracle: Python's html.parser lists the links to track.
std::vector<std::string> oracle_links(const fs::path& file)
{
    std::string script = std::string(CAREPOST_SOURCE_DIR) + "/src/tracking/testdata/web_links.py";
    std::string command = "/usr/bin/python3 '" + script + "' '" + file.string() + "'";
    std::string text;
    if (FILE* pipe = popen(command.c_str(), "r")) {
        char buffer[4096];
        while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) {
            text.append(buffer, n);
        }
        pclose(pipe);
    }
    std::vector<std::string> links;
    boost::json::value parsed = boost::json::parse(text);
    for (const auto& v : parsed.as_array()) {
        links.emplace_back(v.as_string());
    }
    return links;
}

// Gives every {{..._url}} placeholder a real target with an entity in it,
// so the templates carry more links than their few literal ones.
std::string render_urls(const std::string& html)
{
    static const std::regex url_tag(R"(\{\{\s*(\w+_url)\s*\}\})");
    return std::regex_replace(
        html, url_tag, "https://app.clinic.example.org/$1?ref=mail&amp;id=42");
}

struct Totals {
    int templates = 0, links = 0;
};

void check_template(
    const fs::path& file, const std::string& html, const crypto::Key& key, Totals& totals)
{
    RewriteOptions o{base, true, true, ""};
    auto out = rewrite_html(
        html,
        o,
        [&](const std::string& target) {
            return make_token(
                {Kind::click, "msg_0123456789abcdef01234567", "rcp_00", "org_11", "news", target},
                key);
        },
        "OPEN");
    std::string pixel = "<img src=\"" + base +
                        "/t/o/OPEN\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">";
    int clicks = 0;
    EXPECT_EQ(testing::find_difference(html, out.html, base, pixel, clicks), "") << file;
    EXPECT_EQ(clicks, static_cast<int>(out.links.size())) << file;
    EXPECT_NE(out.html.find(pixel + "</body>"), std::string::npos) << file;

    // Oracle: the same targets, in the same order, as Python finds.
    fs::path rendered =
        fs::temp_directory_path() / ("tracking_corpus_" + std::to_string(getpid()) + ".html");
    std::ofstream(rendered, std::ios::binary) << html;
    EXPECT_EQ(out.links, oracle_links(rendered)) << file;
    fs::remove(rendered);

    // Each rewritten URL's token opens to its target.
    std::regex click_url("\"" + base + "/t/c/([A-Za-z0-9_-]+)\"");
    std::size_t index = 0;
    for (std::sregex_iterator m(out.html.begin(), out.html.end(), click_url), end; m != end;
         ++m, ++index) {
        auto claims = open_token((*m)[1].str(), Kind::click, key);
        ASSERT_TRUE(claims.has_value()) << file;
        ASSERT_LT(index, out.links.size());
        EXPECT_EQ(claims->url, out.links[index]) << file;
    }
    EXPECT_EQ(index, out.links.size()) << file;
    totals.templates += 1;
    totals.links += static_cast<int>(out.links.size());
}

TEST(Corpus, every_template_rewrites_and_every_token_opens_to_its_target)
{
    auto key = crypto::random_key();
    Totals raw, rendered;
    for (const auto& entry : fs::recursive_directory_iterator(corpus_dir())) {
        if (entry.path().extension() != ".html") {
            continue;
        }
        std::string html = read_file(entry.path());
        check_template(entry.path(), html, key, raw);
        check_template(entry.path(), render_urls(html), key, rendered);
    }
    std::cout << "corpus: " << raw.templates << " templates, " << raw.links
              << " links as published, " << rendered.links << " links with URLs filled in\n";
    EXPECT_EQ(raw.templates, 66);
    EXPECT_GT(raw.links, 0);
    EXPECT_GT(rendered.links, raw.links);
}

}  // namespace
}  // namespace carepost::tracking
