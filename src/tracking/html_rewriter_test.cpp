#include "tracking/tracking.hpp"
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include "tracking/test_support.hpp"

namespace carepost::tracking {
namespace {

const std::string base = "https://track.clinic.example.org";
const std::string pixel =
    "<img src=\"https://track.clinic.example.org/t/o/OPEN\" width=\"1\" height=\"1\" alt=\"\" "
    "style=\"display:none\">";

// Tokens are numbered, so tests can tell which target got which URL.
struct Recorder {
    std::vector<std::string> targets;
    std::function<std::string(const std::string&)> callback()
    {
        return [this](const std::string& target) {
            targets.push_back(target);
            return "T" + std::to_string(targets.size());
        };
    }
};

RewriteOptions clicks_only()
{
    RewriteOptions o;
    o.base_url = base;
    o.track_clicks = true;
    return o;
}

Rewritten rewrite(std::string_view html, const RewriteOptions& o, Recorder& r)
{
    return rewrite_html(html, o, r.callback(), "OPEN");
}

TEST(Rewriter, rewrites_http_and_https_links)
{
    Recorder r;
    std::string html = "<p><a href=\"http://a.example/x\">a</a> <A HREF='HTTPS://b.example/'>b</A>"
                       " <a class=c href=https://c.example/?q=1>c</a></p>";
    auto out = rewrite(html, clicks_only(), r);
    EXPECT_EQ(
        out.html,
        "<p><a href=\"" + base + "/t/c/T1\">a</a> <A HREF=\"" + base + "/t/c/T2\">b</A>" +
            " <a class=c href=\"" + base + "/t/c/T3\">c</a></p>");
    std::vector<std::string> expected{
        "http://a.example/x", "HTTPS://b.example/", "https://c.example/?q=1"};
    EXPECT_EQ(out.links, expected);
    EXPECT_EQ(r.targets, expected);
}

TEST(Rewriter, leaves_other_schemes_anchors_and_relative_links_alone)
{
    Recorder r;
    std::string html =
        "<a href=\"mailto:care@clinic.example.org\">m</a><a href=\"tel:+15551234\">t</a>"
        "<a href=\"sms:+15551234\">s</a><a href=\"#top\">#</a><a href=\"/relative\">r</a>"
        "<a href=\"ftp://x.example/\">f</a><a href=\"javascript:alert(1)\">j</a><a>no href</a>"
        "<a href=\"{{action_url}}\">p</a><a href=\"httpx://x\">x</a><a href=\"http:/x\">y</a>"
        "<a href=\"\">e</a><a href>v</a>";
    auto out = rewrite(html, clicks_only(), r);
    EXPECT_EQ(out.html, html);
    EXPECT_TRUE(out.links.empty());
    EXPECT_TRUE(r.targets.empty());
}

TEST(Rewriter, leaves_notrack_and_unsubscribe_links_alone)
{
    Recorder r;
    auto o = clicks_only();
    o.unsubscribe_url = "https://unsubscribe.clinic.example.org/u/TOKEN?a=1&b=2";
    std::string html =
        "<a data-carepost-notrack href=\"https://x.example/\">n</a>"
        "<a href=\"https://unsubscribe.clinic.example.org/u/TOKEN?a=1&amp;b=2\">u</a>"
        "<a href=\"https://y.example/\">y</a>";
    auto out = rewrite(html, o, r);
    std::string expected = html;
    expected.replace(expected.find("\"https://y.example/\""), 20, "\"" + base + "/t/c/T1\"");
    EXPECT_EQ(out.html, expected);
    EXPECT_EQ(out.links, std::vector<std::string>{"https://y.example/"});
}

TEST(Rewriter, replaces_the_unsubscribe_placeholder_untracked)
{
    Recorder r;
    auto o = clicks_only();
    o.unsubscribe_url = "https://u.example/u/TOK?x=1&y=2";
    std::string html = "<a href=\"{{carepost_unsubscribe_url}}\">Unsubscribe</a> "
                       "or visit {{carepost_unsubscribe_url}}";
    auto out = rewrite(html, o, r);
    EXPECT_EQ(
        out.html,
        "<a href=\"https://u.example/u/TOK?x=1&amp;y=2\">Unsubscribe</a> "
        "or visit https://u.example/u/TOK?x=1&amp;y=2");
    EXPECT_TRUE(out.links.empty());

    // Without an unsubscribe URL the placeholder stays and is still not tracked.
    Recorder r2;
    auto kept = rewrite(html, clicks_only(), r2);
    EXPECT_EQ(kept.html, html);
}

TEST(Rewriter, decodes_entities_for_the_target)
{
    Recorder r;
    std::string html = "<a href=\"https://x.example/?a=1&amp;b=2&#38;c=&quot;3&quot;&copy\">x</a>"
                       "<a href=' https://y.example/&lt;p&gt; '>y</a>";
    auto out = rewrite(html, clicks_only(), r);
    std::vector<std::string> expected{
        "https://x.example/?a=1&b=2&c=\"3\"\xc2\xa9", "https://y.example/<p>"};
    EXPECT_EQ(out.links, expected);
    int clicks = 0;
    EXPECT_EQ(testing::find_difference(html, out.html, base, "", clicks), "");
    EXPECT_EQ(clicks, 2);
}

TEST(Rewriter, keeps_every_other_byte)
{
    Recorder r;
    auto o = clicks_only();
    o.track_opens = true;
    std::string html =
        "<!DOCTYPE html>\r\n<html><head><style>a[href^=\"http\"]{color:red}</style>\n"
        "<!--[if mso]><a href=\"https://in.comment/\">c</a><![endif]-->"
        "<script>var s = '<a href=\"https://in.script/\">';</script></head>\n"
        "<BODY>\t<a  title=\"&amp;\"   href = \"https://a.example/\"   id=x >a</a>"
        "<textarea><a href=\"https://in.textarea/\"></textarea>"
        "<a href=https://b.example/>b</a><img src=\"https://img.example/i.png\">\n"
        "\xe2\x80\x94 caf\xc3\xa9 <a href='http://c.example/'>c</a></BODY>\n</html>\n<!-- end -->";
    auto out = rewrite(html, o, r);
    int clicks = 0;
    EXPECT_EQ(testing::find_difference(html, out.html, base, pixel, clicks), "");
    EXPECT_EQ(clicks, 3);
    std::vector<std::string> expected{
        "https://a.example/", "https://b.example/", "http://c.example/"};
    EXPECT_EQ(out.links, expected);
    EXPECT_NE(out.html.find(pixel + "</BODY>"), std::string::npos);
}

TEST(Rewriter, places_pixel_before_body_end_or_at_the_end)
{
    Recorder r;
    RewriteOptions o;
    o.base_url = base;
    o.track_opens = true;
    std::string with_body = "<html><body><p>Hi</p></body>\n</html>\n";
    EXPECT_EQ(
        rewrite(with_body, o, r).html, "<html><body><p>Hi</p>" + pixel + "</body>\n</html>\n");

    std::string without = "<p>Hi</p>\n";
    EXPECT_EQ(rewrite(without, o, r).html, without + pixel);

    // A </body> inside a comment or script is not the end of the body.
    std::string decoy = "<body><!-- </body> --><script>'</body>'</script><p>x</p></body>";
    EXPECT_EQ(
        rewrite(decoy, o, r).html,
        "<body><!-- </body> --><script>'</body>'</script><p>x</p>" + pixel + "</body>");

    std::string upper = "<BODY>x</Body >";
    EXPECT_EQ(rewrite(upper, o, r).html, "<BODY>x" + pixel + "</Body >");
    EXPECT_TRUE(r.targets.empty());
}

TEST(Rewriter, nothing_changes_when_tracking_is_off)
{
    Recorder r;
    RewriteOptions o;
    o.base_url = base;
    std::string html = "<body><a href=\"https://a.example/\">a</a></body>";
    auto out = rewrite(html, o, r);
    EXPECT_EQ(out.html, html);
    EXPECT_TRUE(out.links.empty());
}

TEST(Rewriter, splices_a_misnested_link_once)
{
    // The parser clones the <a> into the second paragraph (adoption agency).
    Recorder r;
    std::string html =
        "<p><a href=\"https://a.example/\">1<p>2</a>3<b><a href=\"https://b.example/\">x</b>y</a>";
    auto out = rewrite(html, clicks_only(), r);
    int clicks = 0;
    EXPECT_EQ(testing::find_difference(html, out.html, base, "", clicks), "");
    EXPECT_EQ(clicks, 2);
    EXPECT_EQ(out.links, (std::vector<std::string>{"https://a.example/", "https://b.example/"}));
}

TEST(Rewriter, escapes_the_base_url_in_attributes)
{
    Recorder r;
    auto o = clicks_only();
    o.base_url = "https://t.example/?a=\"1\"&b=<2>";
    auto out = rewrite("<a href=\"https://a.example/\">a</a>", o, r);
    EXPECT_EQ(
        out.html, "<a href=\"https://t.example/?a=&quot;1&quot;&amp;b=&lt;2&gt;/t/c/T1\">a</a>");
}

TEST(Rewriter, survives_deep_nesting_and_empty_input)
{
    Recorder r;
    std::string deep;
    for (int i = 0; i < 5000; ++i) {
        deep += "<div>";
    }
    deep += "<a href=\"https://deep.example/\">d</a>";
    auto out = rewrite(deep, clicks_only(), r);
    EXPECT_EQ(out.links, std::vector<std::string>{"https://deep.example/"});
    EXPECT_EQ(rewrite("", clicks_only(), r).html, "");
}

TEST(Rewriter, tokens_from_make_token_open_to_the_targets)
{
    auto key = crypto::random_key();
    auto o = clicks_only();
    std::string html =
        "<a href=\"https://x.example/?a=1&amp;b=2\">x</a><a href=\"http://y.example/\">y</a>";
    auto out = rewrite_html(
        html,
        o,
        [&](const std::string& target) {
            return make_token({Kind::click, "msg_00ff", "rcp_1234", "org_ab", "news", target}, key);
        },
        "");
    ASSERT_EQ(out.links.size(), 2u);
    std::size_t at = 0;
    for (const std::string& target : out.links) {
        at = out.html.find(base + "/t/c/", at);
        ASSERT_NE(at, std::string::npos);
        at += base.size() + 5;
        auto token = out.html.substr(at, out.html.find('"', at) - at);
        auto claims = open_token(token, Kind::click, key);
        ASSERT_TRUE(claims.has_value());
        EXPECT_EQ(claims->url, target);
        EXPECT_EQ(claims->recipient_id, "rcp_1234");
    }
}

}  // namespace
}  // namespace carepost::tracking
