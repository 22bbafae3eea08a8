#include "inbound/data_reader.hpp"

namespace carepost::inbound::detail {

void DataReader::emit(std::string_view octets)
{
    line_octets_ += octets.size();
    if (line_octets_ > max_line_octets_) {
        has_long_line_ = true;
    }
    message_octets_ += octets.size();
    if (data_.size() < max_message_octets_) {
        data_.append(octets.substr(0, max_message_octets_ - data_.size()));
    }
}

// One octet inside a line (not right after a line end).
void DataReader::take_middle(char c)
{
    if (c == '\r') {
        state_ = State::cr;
    } else {
        emit(c);
        state_ = State::middle;
    }
}

std::size_t DataReader::feed(std::string_view input)
{
    std::size_t i = 0;
    while (i < input.size() && state_ != State::complete) {
        // Plain text runs to the next CR: copy it in one step.
        if (state_ == State::middle) {
            auto cr = input.find('\r', i);
            std::size_t end = cr == std::string_view::npos ? input.size() : cr;
            emit(input.substr(i, end - i));
            i = end;
            if (i < input.size()) {
                state_ = State::cr;
                ++i;
            }
            continue;
        }

        char c = input[i++];
        switch (state_) {
        case State::line_start:
            line_octets_ = 0;
            if (c == '.') {
                state_ = State::dot;
            } else {
                take_middle(c);
            }
            break;
        case State::dot:
            // The leading dot was transparency stuffing (§4.5.2): drop it.
            if (c == '\r') {
                state_ = State::dot_cr;
            } else {
                take_middle(c);
            }
            break;
        case State::dot_cr:
            if (c == '\n') {
                state_ = State::complete;
            } else {
                emit('\r');
                take_middle(c);
            }
            break;
        case State::cr:
            if (c == '\n') {
                emit("\r\n");
                state_ = State::line_start;
            } else {
                emit('\r');
                take_middle(c);
            }
            break;
        case State::middle:
        case State::complete:
            break;
        }
    }
    return i;
}

}  // namespace carepost::inbound::detail
