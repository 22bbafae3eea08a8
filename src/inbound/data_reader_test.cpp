#include <gtest/gtest.h>

#include "inbound/data_reader.hpp"

namespace carepost::inbound::detail {
namespace {

// Feeds `wire` in pieces of `step` octets; returns the reader and how many
// octets it consumed in all.
std::pair<DataReader, std::size_t>
read_in_steps(std::string_view wire, std::size_t step, std::size_t max = 1 << 20)
{
    DataReader reader(max, 1000);
    std::size_t consumed = 0;
    while (consumed < wire.size() && !reader.is_complete()) {
        std::string_view piece = wire.substr(consumed, step);
        consumed += reader.feed(piece);
    }
    return {std::move(reader), consumed};
}

TEST(DataReader, EndsAtDotLineAndUnstuffsAtEveryPieceSize)
{
    const std::string wire =
        "Subject: x\r\n\r\n..leading dot\r\n..\r\nend.\r\n.\r\nMAIL FROM:<>\r\n";
    const std::string message = "Subject: x\r\n\r\n.leading dot\r\n.\r\nend.\r\n";
    for (std::size_t step = 1; step <= wire.size(); ++step) {
        auto [reader, consumed] = read_in_steps(wire, step);
        ASSERT_TRUE(reader.is_complete()) << step;
        EXPECT_EQ(reader.data(), message) << step;
        EXPECT_EQ(wire.substr(consumed), "MAIL FROM:<>\r\n") << step;
    }
}

TEST(DataReader, TakesAnEmptyMessage)
{
    auto [reader, consumed] = read_in_steps(".\r\nQUIT\r\n", 100);
    EXPECT_TRUE(reader.is_complete());
    EXPECT_EQ(reader.data(), "");
    EXPECT_EQ(consumed, 3u);
}

TEST(DataReader, NeverEndsAtABareLineFeedDot)
{
    // The shapes used to smuggle a second message past a server that took LF as a line end.
    for (std::string wire :
         {"a\n.\nMAIL FROM:<x>\n", "a\r\n.\nb\r\n", "a\n.\r\nb\r\n", "a\r.\r\n"}) {
        auto [reader, consumed] = read_in_steps(wire, 1);
        EXPECT_FALSE(reader.is_complete()) << wire;
        EXPECT_EQ(consumed, wire.size());
    }
    auto [reader, consumed] = read_in_steps("a\n.\nb\r\n.\r\n", 3);
    ASSERT_TRUE(reader.is_complete());
    EXPECT_EQ(reader.data(), "a\n.\nb\r\n");
}

TEST(DataReader, KeepsCarriageReturnsThatEndNoLine)
{
    auto [reader, consumed] = read_in_steps("a\rb\r\r\n.\rx\r\n.\r\n", 2);
    ASSERT_TRUE(reader.is_complete());
    EXPECT_EQ(reader.data(), "a\rb\r\r\n\rx\r\n");
}

TEST(DataReader, CountsButDropsOctetsBeyondTheLimit)
{
    std::string body(5000, 'x');
    std::string wire = body + "\r\n.\r\n";
    auto [reader, consumed] = read_in_steps(wire, 700, 1000);
    EXPECT_TRUE(reader.is_complete());
    EXPECT_TRUE(reader.is_oversize());
    EXPECT_EQ(reader.data().size(), 1000u);
    EXPECT_EQ(reader.message_octets(), 5002u);
    EXPECT_EQ(consumed, wire.size());
}

TEST(DataReader, FlagsALineLongerThanItsCap)
{
    auto [shortish, c1] = read_in_steps(std::string(998, 'y') + "\r\n.\r\n", 64);
    EXPECT_FALSE(shortish.has_long_line());
    auto [longer, c2] = read_in_steps(std::string(1001, 'y') + "\r\n.\r\n", 64);
    EXPECT_TRUE(longer.is_complete());
    EXPECT_TRUE(longer.has_long_line());
}

}  // namespace
}  // namespace carepost::inbound::detail
