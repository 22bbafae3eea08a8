#include <gtest/gtest.h>

#include "templates/rewriter.hpp"

namespace carepost::templates {
namespace {

std::string rewritten(std::string_view source)
{
    auto r = rewrite_template(source);
    EXPECT_TRUE(r.has_value()) << source;
    return r ? *r : std::string{};
}

TEST(Rewriter, plain_mustache_passes_through_unchanged)
{
    const std::string plain = "a {{b}} {{{c}}} {{#d}}{{/d}} {{^e}}{{/e}} {{! x }} {{> p}}\n";
    EXPECT_EQ(rewritten(plain), plain);
}

TEST(Rewriter, each_becomes_a_section_named_for_its_list)
{
    EXPECT_EQ(rewritten("{{#each items}}x{{/each}}"), "{{#items}}x{{/items}}");
    EXPECT_EQ(rewritten("{{#each . }}x{{/each}}"), "{{#.}}x{{/.}}");
}

TEST(Rewriter, a_section_named_each_stays_a_plain_section)
{
    EXPECT_EQ(
        rewritten("{{#each}}{{#each l}}{{/each}}{{/each}}"), "{{#each}}{{#l}}{{/l}}{{/each}}");
}

TEST(Rewriter, each_under_custom_delimiters_keeps_those_delimiters)
{
    EXPECT_EQ(rewritten("{{=<% %>=}}<%#each l%>x<%/each%>"), "{{=<% %>=}}<%#l%>x<%/l%>");
}

TEST(Rewriter, escaped_tag_switches_delimiters_around_the_literal)
{
    EXPECT_EQ(rewritten("\\{{ x }}"), "{{=<% %>=}}{{ x }}<%={{ }}=%>");
    EXPECT_EQ(rewritten("\\{{ <% }}"), "{{=[% %]=}}{{ <% }}[%={{ }}=%]");
}

TEST(Rewriter, standalone_comment_line_is_dropped)
{
    EXPECT_EQ(rewritten("a\n  {{! note }}  \nb"), "a\nb");
    EXPECT_EQ(rewritten("a {{! note }}\nb"), "a {{! note }}\nb");
}

TEST(Rewriter, standalone_partial_carries_its_indentation)
{
    EXPECT_EQ(rewritten(" \t{{> p }}\r\nx"), std::string("{{>p") + indent_mark + "st}}x");
    const auto ref = parse_partial_ref(std::string("p") + indent_mark + "st");
    EXPECT_EQ(ref.name, "p");
    EXPECT_EQ(ref.indent, " \t");
}

TEST(Rewriter, indent_lines_prefixes_every_line_but_not_after_the_last_newline)
{
    EXPECT_EQ(indent_lines("a\nb\n", "  "), "  a\n  b\n");
    EXPECT_EQ(indent_lines("a\n\nb", "-"), "-a\n-\n-b");
}

TEST(Rewriter, stray_end_of_each_is_a_syntax_error)
{
    const auto r = rewrite_template("x {{/each}}");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "template_syntax");
    EXPECT_NE(r.error().text.find("offset 2"), std::string::npos);
}

TEST(Rewriter, malformed_set_delimiter_is_a_syntax_error)
{
    EXPECT_FALSE(rewrite_template("{{=<%=}}").has_value());
    EXPECT_FALSE(rewrite_template("{{= a b c =}}").has_value());
}

}  // namespace
}  // namespace carepost::templates
