// Runs the shared bounce corpus (sisimai's set-of-emails) through parse()
// and compares with expected.tsv, whose answers were made by another parser.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bounce/bounce.hpp"

namespace carepost::bounce {
namespace {

namespace fs = std::filesystem;

const fs::path kCorpus = fs::path(CAREPOST_SHARED_DIR) / "corpus" / "bounces";

struct Row {
    int index = 0;
    std::string status;
    int reply_code = 0;
    std::string reason;
    bool hard = false;
    std::string feedback_type;
};

std::string read_file(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> split_tabs(const std::string& line)
{
    std::vector<std::string> out;
    std::string cell;
    std::istringstream in(line);
    while (std::getline(in, cell, '\t')) {
        out.push_back(cell);
    }
    if (!line.empty() && line.back() == '\t') {
        out.emplace_back();
    }
    return out;
}

std::map<std::string, std::vector<Row>> load_expected()
{
    std::map<std::string, std::vector<Row>> out;
    std::ifstream in(kCorpus / "expected.tsv");
    std::string line;
    std::getline(in, line);  // column names
    while (std::getline(in, line)) {
        std::vector<std::string> c = split_tabs(line);
        if (c.size() < 7) {
            continue;
        }
        Row r;
        r.index = std::atoi(c[1].c_str());
        r.status = c[2];
        r.reply_code = std::atoi(c[3].c_str());
        r.reason = c[4];
        r.hard = c[5] == "true";
        r.feedback_type = c[6];
        std::vector<Row>& rows = out[c[0]];
        // A row repeated word for word is one recipient, counted once.
        bool repeated = std::any_of(rows.begin(), rows.end(), [&](const Row& o) {
            return o.index == r.index && o.status == r.status && o.reply_code == r.reply_code &&
                   o.reason == r.reason && o.hard == r.hard && o.feedback_type == r.feedback_type;
        });
        if (!repeated) {
            rows.push_back(r);
        }
    }
    // Different rows under one index are successive recipients (the source
    // table numbered them all 1): number them in their order.
    for (auto& [file, rows] : out) {
        std::vector<int> seen;
        bool reused = false;
        for (const Row& r : rows) {
            reused = reused || std::find(seen.begin(), seen.end(), r.index) != seen.end();
            seen.push_back(r.index);
        }
        for (std::size_t i = 0; reused && i < rows.size(); ++i) {
            rows[i].index = static_cast<int>(i + 1);
        }
    }
    return out;
}

// sisimai's own x.0.9xx codes stand for "no standard code in the message".
bool is_pseudo_status(const std::string& status)
{
    return status.size() == 7 && status.substr(1, 3) == ".0." && status[4] == '9';
}

double percent(int right, int total)
{
    return total == 0 ? 0.0 : 100.0 * right / total;
}

TEST(BounceOracle, MatchesCorpusExpectationsAboveThresholds)
{
    std::map<std::string, std::vector<Row>> expected = load_expected();
    ASSERT_GT(expected.size(), 400u) << "expected.tsv not found under " << kCorpus;
    bool verbose = std::getenv("BOUNCE_ORACLE_VERBOSE") != nullptr;
    bool print_all = std::getenv("BOUNCE_ORACLE_ALL") != nullptr;

    int rows = 0, recipient_right = 0, hard_right = 0, reason_right = 0, reply_right = 0;
    int status_rows = 0, status_right = 0;
    for (const auto& [file, want] : expected) {
        std::vector<Record> got = parse(read_file(kCorpus / file));
        // Count recipients by index (load_expected() has folded repeats).
        std::size_t want_count = 0;
        for (const Row& row : want) {
            want_count = std::max(want_count, static_cast<std::size_t>(row.index));
        }
        bool count_ok = got.size() == want_count;
        for (const Row& row : want) {
            ++rows;
            const Record* r = row.index >= 1 && static_cast<std::size_t>(row.index) <= got.size()
                                  ? &got[row.index - 1]
                                  : nullptr;
            bool recipient_ok = r && count_ok && r->recipient.find('@') != std::string::npos;
            bool hard_ok = recipient_ok && r->hard == row.hard;
            bool reason_ok = r && r->reason == row.reason;
            bool reply_ok = r && r->reply_code == row.reply_code;
            recipient_right += recipient_ok;
            hard_right += hard_ok;
            reason_right += reason_ok;
            reply_right += reply_ok;
            bool status_ok = true;
            if (!row.status.empty() && !is_pseudo_status(row.status)) {
                ++status_rows;
                status_ok = r && r->status == row.status;
                status_right += status_ok;
            }
            if (print_all || (verbose && !(recipient_ok && hard_ok && reason_ok && status_ok))) {
                std::printf(
                    "%s%s %s #%d want %s/%d/%s/%s got n=%zu/%zu %s/%d/%s/%s rcpt=%s diag=%.400s\n",
                    recipient_ok && hard_ok && reason_ok && status_ok ? "ROW" : "MISS",
                    !recipient_ok ? "-RCPT" : (!hard_ok ? "-HARD" : ""),
                    file.c_str(),
                    row.index,
                    row.status.c_str(),
                    row.reply_code,
                    row.reason.c_str(),
                    row.hard ? "hard" : "soft",
                    got.size(),
                    want.size(),
                    r ? r->status.c_str() : "-",
                    r ? r->reply_code : -1,
                    r ? r->reason.c_str() : "-",
                    r ? (r->hard ? "hard" : "soft") : "-",
                    r ? r->recipient.c_str() : "-",
                    r ? r->diagnostic.c_str() : "-");
            }
        }
    }

    double recipient_pct = percent(recipient_right, rows);
    double hard_pct = percent(hard_right, rows);
    double reason_pct = percent(reason_right, rows);
    std::printf("bounce oracle: %d rows\n", rows);
    std::printf("  recipient right:        %d/%d = %.1f%%\n", recipient_right, rows, recipient_pct);
    std::printf("  recipient+hard right:   %d/%d = %.1f%%\n", hard_right, rows, hard_pct);
    std::printf(
        "  exact status right:     %d/%d = %.1f%% (rows with a standard code)\n",
        status_right,
        status_rows,
        percent(status_right, status_rows));
    std::printf(
        "  reply code right:       %d/%d = %.1f%%\n",
        reply_right,
        rows,
        percent(reply_right, rows));
    std::printf("  reason right:           %d/%d = %.1f%%\n", reason_right, rows, reason_pct);
    EXPECT_GE(recipient_pct, 95.0);
    EXPECT_GE(reason_pct, 85.0);
    // LIMIT(#4): 95.1% today (447/470). Of the 23 rows left, 7 are a
    // permanent X.2.1 that C09 makes hard where the corpus says
    // suspend/filtered, and about 10 are "user unknown" texts the corpus
    // calls filtered only because of which vendor wrote the bounce (no
    // content rule separates them from the same words elsewhere). Accepted:
    // both err towards our own specification; the fix is vendor-specific
    // readers.
    std::printf("  (recipient+hard target and asserted floor 95%%)\n");
    EXPECT_GE(hard_pct, 95.0);
}

TEST(BounceOracle, NotBouncesGiveNoRecords)
{
    int files = 0;
    for (const auto& entry : fs::directory_iterator(kCorpus / "not-bounce")) {
        ++files;
        EXPECT_TRUE(parse(read_file(entry.path())).empty()) << entry.path();
    }
    EXPECT_EQ(files, 2);
}

TEST(BounceOracle, EveryCrlfCaptureYieldsARecipientAndReason)
{
    int files = 0;
    for (const auto& entry : fs::directory_iterator(kCorpus / "crlf")) {
        ++files;
        std::vector<Record> records = parse(read_file(entry.path()));
        ASSERT_FALSE(records.empty()) << entry.path();
        EXPECT_NE(records.front().recipient.find('@'), std::string::npos) << entry.path();
        EXPECT_FALSE(records.front().reason.empty()) << entry.path();
    }
    EXPECT_GE(files, 50);
}

TEST(BounceOracle, UnexpectedFilesDoNotCrash)
{
    for (const char* name : {"messages/rfc3464-36.eml", "messages/rhost-gsuite-15.eml"}) {
        std::vector<Record> records = parse(read_file(kCorpus / name));
        for (const Record& r : records) {
            EXPECT_FALSE(r.reason.empty()) << name;
        }
    }
}

}  // namespace
}  // namespace carepost::bounce
