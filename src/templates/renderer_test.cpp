#include "templates/templates.hpp"
// The header under test comes first, so it is known to stand alone.
#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace carepost::templates {
namespace {

const boost::json::value c13_data = {
    {"clinic", "Smith & Jones \"Kids\" Clinic"},
    {"ref", "<A-42>"},
    {"name", "<script>alert(1)</script>"},
    {"signature_html", "<b>Dr. Lee</b>"},
};

TEST(Render, c13_subject_is_plain_text)
{
    const auto out = render("Results from {{clinic}} (ref {{ref}})", c13_data, Escape::none);
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, "Results from Smith & Jones \"Kids\" Clinic (ref <A-42>)");
}

TEST(Render, c13_text_part_is_not_escaped)
{
    const auto out = render(
        "Hello {{name}},\n{{clinic}} has new results (ref {{ref}}).\n", c13_data, Escape::none);
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(
        *out,
        "Hello <script>alert(1)</script>,\nSmith & Jones \"Kids\" Clinic has new results "
        "(ref <A-42>).\n");
}

TEST(Render, c13_html_part_escapes_double_braces_and_keeps_triple_and_ampersand_raw)
{
    const auto out = render(
        "<p>Hello {{name}},</p><p>{{clinic}} has new results (ref {{ref}}).</p>"
        "<p>{{{signature_html}}}</p><p>{{&signature_html}}</p>",
        c13_data,
        Escape::html);
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(
        *out,
        "<p>Hello &lt;script&gt;alert(1)&lt;/script&gt;,</p><p>Smith &amp; Jones &quot;Kids&quot; "
        "Clinic has new results (ref &lt;A-42&gt;).</p><p><b>Dr. Lee</b></p><p><b>Dr. Lee</b></p>");
}

TEST(Render, html_escape_leaves_apostrophe_alone)
{
    const auto out = render("{{x}}", {{"x", "it's"}}, Escape::html);
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, "it's");
}

TEST(Render, each_loops_over_a_list)
{
    const boost::json::value data = {
        {"items", boost::json::array{{{"d", "a"}}, {{"d", "b"}}}},
    };
    const auto out = render("{{#each items}}[{{ d }}]{{/each}}", data, Escape::none);
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, "[a][b]");
}

TEST(Render, each_dot_loops_over_the_current_value)
{
    const boost::json::value data = {
        {"outer", {{"list", boost::json::array{"x", "y"}}}},
        {"names", boost::json::array{"p", "q"}},
    };
    const auto out = render("{{#names}}{{#each .}}<{{.}}>{{/each}}{{/names}}", data, Escape::none);
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, "<p><q>");
}

TEST(Render, nested_each_closes_the_right_sections)
{
    const boost::json::value data = {
        {"a", boost::json::array{{{"b", boost::json::array{"1", "2"}}}}},
        {"flag", true},
    };
    const auto out = render(
        "{{#each a}}{{#flag}}({{#each b}}{{.}}{{/each}}){{/flag}}{{/each}}", data, Escape::none);
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, "(12)");
}

TEST(Render, backslash_escaped_tag_prints_literally)
{
    const auto out = render("\\{{ x }} is {{ x }}", {{"x", "X"}}, Escape::none);
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, "{{ x }} is X");
}

TEST(Render, numbers_print_in_shortest_form)
{
    const auto out =
        render("{{i}} {{d}} {{n}}|", {{"i", 42}, {"d", 1.5}, {"n", nullptr}}, Escape::none);
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, "42 1.5 |");
}

TEST(Render, data_is_never_used_as_a_partial)
{
    const auto out = render("[{{>evil}}]", {{"evil", "{{secret}}"}, {"secret", "S"}}, Escape::none);
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, "[]");
}

TEST(Render, partials_come_from_the_map_and_speak_the_dialect)
{
    const auto out = render(
        "{{>row}}",
        {{"l", boost::json::array{"a", "b"}}},
        Escape::none,
        {{"row", "{{#each l}}{{.}};{{/each}}"}});
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, "a;b;");
}

TEST(Render, self_recursive_partial_is_bounded)
{
    const auto out =
        render("{{>loop}}", boost::json::object{}, Escape::none, {{"loop", "x{{>loop}}"}});
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().code, "template_render");
}

TEST(Render, unclosed_section_is_a_syntax_error)
{
    const auto out = render("{{#a}}x", boost::json::object{}, Escape::none);
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().code, "template_syntax");
}

TEST(CheckSyntax, accepts_valid_and_rejects_broken_templates)
{
    EXPECT_TRUE(check_syntax("Hello {{name}} {{#each l}}{{.}}{{/each}}").has_value());
    for (const auto* broken : {"{{#a}}", "{{/a}}", "{{name", "{{/each}}", "{{#a}}{{/b}}"}) {
        const auto r = check_syntax(broken);
        ASSERT_FALSE(r.has_value()) << broken;
        EXPECT_EQ(r.error().code, "template_syntax") << broken;
        EXPECT_FALSE(r.error().text.empty());
    }
}

}  // namespace
}  // namespace carepost::templates
