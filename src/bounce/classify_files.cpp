// bounce: the `carepost bounce classify FILE...` command body.
#include <fstream>
#include <iterator>
#include <ostream>

#include <boost/json.hpp>

#include "bounce/bounce.hpp"

namespace carepost::bounce {

int classify_files(const std::vector<std::string>& files, std::ostream& out, std::ostream& err)
{
    int status = 0;
    for (const std::string& file : files) {
        std::ifstream in(file, std::ios::binary);
        std::string raw;
        if (in) {
            raw.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        }
        if (!in && !in.eof()) {
            err << "bounce classify: cannot read " << file << "\n";
            status = 2;
            continue;
        }

        for (const Record& r : parse(raw)) {
            boost::json::object line;
            line["file"] = file;
            line["recipient"] = r.recipient;
            line["status"] =
                r.status.empty() ? boost::json::value(nullptr) : boost::json::value(r.status);
            line["reply_code"] =
                r.reply_code == 0 ? boost::json::value(nullptr) : boost::json::value(r.reply_code);
            line["reason"] = r.reason;
            line["hard"] = r.hard;
            out << boost::json::serialize(line) << "\n";
        }
    }
    return status;
}

}  // namespace carepost::bounce
