#include "dkim/dkim.hpp"

namespace carepost::dkim {
namespace {

bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

// Appends `line` with WSP runs collapsed to one SP and trailing WSP removed.
void append_relaxed_line(std::string& out, std::string_view line)
{
    bool pending_space = false;
    for (char c : line) {
        if (is_wsp(c)) {
            pending_space = true;
            continue;
        }
        if (pending_space) {
            out.push_back(' ');
            pending_space = false;
        }
        out.push_back(c);
    }
}

}  // namespace

std::string canonicalize_body_relaxed(std::string_view body)
{
    std::string out;
    out.reserve(body.size());
    std::size_t pending_crlf = 0;  // line ends not yet written: they may be trailing
    std::size_t pos = 0;
    std::string line;

    while (pos < body.size()) {
        std::size_t end = body.find("\r\n", pos);
        bool has_crlf = end != std::string_view::npos;
        if (!has_crlf) {
            end = body.size();
        }
        line.clear();
        append_relaxed_line(line, body.substr(pos, end - pos));

        // Empty lines are held back: only those followed by content survive.
        if (line.empty()) {
            pending_crlf += has_crlf ? 1 : 0;
        } else {
            for (; pending_crlf > 0; --pending_crlf) {
                out += "\r\n";
            }
            out += line;
            pending_crlf = 1;
        }
        pos = has_crlf ? end + 2 : end;
    }

    // A non-empty body ends in exactly one CRLF, even if the input lacked it.
    if (!out.empty()) {
        out += "\r\n";
    }
    return out;
}

std::string canonicalize_header_relaxed(std::string_view name, std::string_view value)
{
    std::string out;
    out.reserve(name.size() + value.size() + 3);
    for (char c : name) {
        if (!is_wsp(c)) {
            out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
        }
    }
    out.push_back(':');

    // Unfolding removes the CRLF of each fold; the WSP after it stays and is
    // collapsed with its neighbours below.
    bool pending_space = false;
    bool at_start = true;
    for (char c : value) {
        if (c == '\r' || c == '\n') {
            continue;
        }
        if (is_wsp(c)) {
            pending_space = !at_start;
            continue;
        }
        if (pending_space) {
            out.push_back(' ');
            pending_space = false;
        }
        out.push_back(c);
        at_start = false;
    }
    out += "\r\n";
    return out;
}

}  // namespace carepost::dkim
