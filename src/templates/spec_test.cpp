// Runs the official Mustache specification suites against render().
#include "templates/templates.hpp"
// The header under test comes first, so it is known to stand alone.
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace carepost::templates {
namespace {

namespace fs = std::filesystem;

struct SpecCase {
    std::string file;  // e.g. "sections" or "~lambdas"
    std::string name;
    boost::json::object test;
    bool is_optional() const { return !file.empty() && file.front() == '~'; }
};

struct Counts {
    int passed = 0;
    int failed = 0;
    int skipped = 0;
};

// Prints a case as its file and name in gtest's messages.
void PrintTo(const SpecCase& spec, std::ostream* out)
{
    *out << spec.file << "/" << spec.name;
}

std::map<std::string, Counts>& counts()
{
    static std::map<std::string, Counts> per_file;
    return per_file;
}

std::vector<SpecCase> load_spec_cases()
{
    std::vector<SpecCase> cases;
    const fs::path dir = fs::path(CAREPOST_SHARED_DIR) / "corpus/mustache-spec/specs";
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.path().extension() == ".json") {
            files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
        std::ifstream in(path);
        std::stringstream text;
        text << in.rdbuf();
        const auto doc = boost::json::parse(text.str()).as_object();
        for (const auto& test : doc.at("tests").as_array()) {
            cases.push_back({
                path.stem().string(),
                std::string(test.at("name").as_string()),
                test.as_object(),
            });
        }
    }
    return cases;
}

std::string case_label(const testing::TestParamInfo<SpecCase>& info)
{
    std::string label = info.param.file + "_" + info.param.name + "_" + std::to_string(info.index);
    for (auto& c : label) {
        if (!std::isalnum(static_cast<unsigned char>(c))) {
            c = '_';
        }
    }
    return label;
}

class SpecSummary : public testing::Environment {
public:
    void TearDown() override
    {
        for (const auto& [file, c] : counts()) {
            std::cout << "mustache spec " << file << ": passed " << c.passed << ", failed "
                      << c.failed << ", skipped " << c.skipped << "\n";
        }
    }
};

[[maybe_unused]] testing::Environment* const summary =
    testing::AddGlobalTestEnvironment(new SpecSummary);

class MustacheSpec : public testing::TestWithParam<SpecCase> {};

TEST_P(MustacheSpec, renders_expected_output)
{
    const auto& spec = GetParam();
    Partials partials;
    if (const auto* p = spec.test.if_contains("partials")) {
        for (const auto& [name, text] : p->as_object()) {
            partials.emplace(std::string(name), std::string(text.as_string()));
        }
    }
    const auto expected = std::string(spec.test.at("expected").as_string());
    const auto out = render(
        std::string(spec.test.at("template").as_string()),
        spec.test.at("data"),
        Escape::html,
        partials);
    const bool is_match = out.has_value() && *out == expected;
    auto& c = counts()[spec.file];

    if (!is_match && spec.is_optional()) {
        ++c.skipped;
        GTEST_SKIP() << "optional spec module not supported for this case: "
                     << (out ? "got " + boost::json::serialize(boost::json::string(*out))
                             : "error " + out.error().text);
    }
    ++(is_match ? c.passed : c.failed);
    ASSERT_TRUE(out.has_value()) << out.error().text;
    EXPECT_EQ(*out, expected) << spec.test.at("desc").as_string();
}

INSTANTIATE_TEST_SUITE_P(Spec, MustacheSpec, testing::ValuesIn(load_spec_cases()), case_label);

}  // namespace
}  // namespace carepost::templates
