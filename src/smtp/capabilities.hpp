// smtp: the EHLO keywords the client acts on (internal).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace carepost::smtp {

struct Capabilities {
    bool has_starttls = false;
    bool has_pipelining = false;
    bool has_smtputf8 = false;
    bool has_8bitmime = false;
    bool has_size = false;
    std::size_t size_limit = 0;  // SIZE parameter; 0: no fixed limit (RFC 1870 §4)
};

// lines: the EHLO reply's lines; the first names the server and is skipped.
Capabilities parse_capabilities(const std::vector<std::string>& lines);

}  // namespace carepost::smtp
