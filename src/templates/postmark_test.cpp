// Renders every Postmark template in the shared corpus with a model that
// gives each placeholder (from placeholders.tsv) an HTML-hostile value.
#include "templates/templates.hpp"
// The header under test comes first, so it is known to stand alone.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace carepost::templates {
namespace {

namespace fs = std::filesystem;

const fs::path corpus = fs::path(CAREPOST_SHARED_DIR) / "corpus/email-templates";

struct TemplateTags {
    std::set<std::string> variables;
    std::set<std::string> loops;  // each_open and section_open names, "." excluded
    int escaped_literals = 0;
};

std::map<std::string, TemplateTags> load_placeholders()
{
    std::map<std::string, TemplateTags> tags;
    std::ifstream in(corpus / "placeholders.tsv");
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
        std::stringstream row(line);
        std::string file, kind, name, count;
        std::getline(row, file, '\t');
        std::getline(row, kind, '\t');
        std::getline(row, name, '\t');
        std::getline(row, count, '\t');
        auto& t = tags[file];
        if (kind == "variable") {
            t.variables.insert(name);
        } else if ((kind == "each_open" || kind == "section_open") && name != ".") {
            t.loops.insert(name);
        } else if (kind == "escaped_literal") {
            t.escaped_literals += std::stoi(count);
        }
    }
    return tags;
}

std::string read_file(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The value every placeholder gets: names it, and holds each HTML special.
std::string value_for(const std::string& name)
{
    return "<v-" + name + " & \"q\">";
}

boost::json::value model_for(const TemplateTags& tags)
{
    boost::json::object item;
    for (const auto& name : tags.variables) {
        item[name] = value_for(name);
    }
    boost::json::object model = item;
    for (const auto& name : tags.loops) {
        model[name] = boost::json::array{item};
    }
    return model;
}

std::size_t count_of(std::string_view text, std::string_view needle)
{
    std::size_t n = 0;
    for (auto pos = text.find(needle); pos != std::string_view::npos;
         pos = text.find(needle, pos + needle.size())) {
        ++n;
    }
    return n;
}

// Markup '<' in a template: every '<' outside `{{ ... }}` tags.
std::size_t count_markup_opens(std::string_view source)
{
    std::size_t n = 0;
    for (std::size_t i = 0; i < source.size(); ++i) {
        if (source.compare(i, 2, "{{") == 0) {
            const auto close = source.find("}}", i);
            i = close == std::string_view::npos ? source.size() : close + 1;
        } else if (source[i] == '<') {
            ++n;
        }
    }
    return n;
}

TEST(PostmarkTemplates, every_template_renders_all_placeholders_and_escapes_html)
{
    const auto placeholders = load_placeholders();
    int rendered = 0;
    for (const auto& [file, tags] : placeholders) {
        SCOPED_TRACE(file);
        const auto source = read_file(corpus / file);
        ASSERT_FALSE(source.empty());
        const bool is_html = file.ends_with(".html");
        const auto out = render(source, model_for(tags), is_html ? Escape::html : Escape::none);
        ASSERT_TRUE(out.has_value()) << out.error().text;
        ++rendered;

        // Only the backslash-escaped tags may leave a "{{" behind.
        EXPECT_EQ(count_of(*out, "{{"), static_cast<std::size_t>(tags.escaped_literals));
        for (const auto& name : tags.variables) {
            const auto raw = value_for(name);
            const auto escaped = "&lt;v-" + name + " &amp; &quot;q&quot;&gt;";
            if (is_html) {
                EXPECT_NE(out->find(escaped), std::string::npos) << name;
                EXPECT_EQ(out->find(raw), std::string::npos) << name;
            } else {
                EXPECT_NE(out->find(raw), std::string::npos) << name;
            }
        }
        if (is_html) {
            // The markup is unchanged: no value added a '<' of its own.
            EXPECT_EQ(count_of(*out, "<"), count_markup_opens(source));
        }
    }
    EXPECT_EQ(rendered, 132);
}

TEST(PostmarkTemplates, escaped_literal_prints_the_tag_and_the_next_tag_renders)
{
    const auto source = read_file(corpus / "postmark-templates/basic/example/content.txt");
    const auto out = render(source, boost::json::object{{"something", "VALUE"}}, Escape::none);
    ASSERT_TRUE(out.has_value());
    EXPECT_NE(out->find("{{ something }} will turn into VALUE"), std::string::npos);
}

TEST(PostmarkTemplates, every_template_passes_the_syntax_check)
{
    for (const auto& [file, tags] : load_placeholders()) {
        EXPECT_TRUE(check_syntax(read_file(corpus / file)).has_value()) << file;
    }
}

}  // namespace
}  // namespace carepost::templates
