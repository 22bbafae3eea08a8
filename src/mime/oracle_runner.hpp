// mime tests: runs the Python oracles in testdata/ on composed messages.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace carepost::mime::testing {

struct CommandResult {
    int exit_code = -1;
    std::string out;
};

// A file under /tmp that is removed when this goes out of scope.
class TempFile {
public:
    explicit TempFile(const std::string& content)
    {
        char name[] = "/tmp/carepost-mime-XXXXXX";
        const int fd = mkstemp(name);
        path_ = name;
        if (fd >= 0) {
            ::close(fd);
        }
        std::ofstream(path_, std::ios::binary) << content;
    }
    ~TempFile() { std::remove(path_.c_str()); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

inline std::string testdata(const std::string& name)
{
    return std::string(CAREPOST_SOURCE_DIR) + "/src/mime/testdata/" + name;
}

// Runs testdata/<script> under the system Python with the given arguments
// (paths made by the test, never containing quotes).
inline CommandResult run_python(const std::string& script, const std::vector<std::string>& args)
{
    std::string command = "/usr/bin/python3 '" + testdata(script) + "'";
    for (const auto& arg : args) {
        command += " '" + arg + "'";
    }
    command += " 2>&1";
    CommandResult result;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
        return result;
    }
    char buffer[4096];
    while (const auto n = fread(buffer, 1, sizeof buffer, pipe)) {
        result.out.append(buffer, n);
    }
    const int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

}  // namespace carepost::mime::testing
