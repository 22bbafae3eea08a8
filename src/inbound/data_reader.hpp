// inbound: the DATA section reader — end detection and dot-unstuffing (internal).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace carepost::inbound::detail {

// Reads the DATA section of one message as it arrives in pieces of any size
// (RFC 5321 §4.1.1.4, §4.5.2). The data ends only at CRLF "." CRLF: a bare
// LF never ends it, so a peer cannot smuggle a second message past another
// server's idea of where this one ends. A leading dot is taken off each
// line. Only the first max_message_octets are kept; the rest is counted and
// dropped, so that the session stays in step with the peer.
class DataReader {
public:
    DataReader(std::size_t max_message_octets, std::size_t max_line_octets)
        : max_message_octets_(max_message_octets), max_line_octets_(max_line_octets)
    {}

    // Consumes bytes up to and including the ending line; returns how many
    // were consumed (all of `input` unless the end is in it).
    std::size_t feed(std::string_view input);

    bool is_complete() const { return state_ == State::complete; }
    bool is_oversize() const { return message_octets_ > max_message_octets_; }
    bool has_long_line() const { return has_long_line_; }
    std::size_t message_octets() const { return message_octets_; }  // unstuffed, kept or not
    std::string& data() { return data_; }

private:
    enum class State { line_start, dot, dot_cr, middle, cr, complete };

    void emit(std::string_view octets);
    void emit(char c) { emit(std::string_view(&c, 1)); }
    void take_middle(char c);

    std::size_t max_message_octets_;
    std::size_t max_line_octets_;
    State state_ = State::line_start;
    std::string data_;
    std::size_t message_octets_ = 0;
    std::size_t line_octets_ = 0;
    bool has_long_line_ = false;
};

}  // namespace carepost::inbound::detail
