#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "bounce/bounce.hpp"

namespace carepost::bounce {
namespace {

namespace fs = std::filesystem;

const fs::path kTestdata = fs::path(CAREPOST_SOURCE_DIR) / "src" / "bounce" / "testdata";
const fs::path kCorpus = fs::path(CAREPOST_SHARED_DIR) / "corpus" / "bounces";

std::string read_file(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

Record parse_one(const std::string& name)
{
    std::vector<Record> records = parse(read_file(kTestdata / name));
    EXPECT_EQ(records.size(), 1u) << name;
    return records.empty() ? Record{} : records.front();
}

TEST(BounceParse, C09BlocklistDsnIsBlockAndKeepsRecipient)
{
    Record r = parse_one("c09-dsn-1.eml");
    EXPECT_EQ(r.recipient, "patient.one@example.net");
    EXPECT_EQ(r.action, "failed");
    EXPECT_EQ(r.status, "5.7.1");
    EXPECT_EQ(r.reply_code, 554);
    EXPECT_EQ(r.bounce_class, "block");
    EXPECT_FALSE(r.hard);
    EXPECT_EQ(r.original_message_id, "<m-7f3a@clinic.example.org>");
}

TEST(BounceParse, C09UnknownUserDsnIsHard)
{
    Record r = parse_one("c09-dsn-2.eml");
    EXPECT_EQ(r.recipient, "patient.two@example.net");
    EXPECT_EQ(r.status, "5.1.1");
    EXPECT_EQ(r.reason, "userunknown");
    EXPECT_EQ(r.bounce_class, "hard");
    EXPECT_TRUE(r.hard);
}

TEST(BounceParse, C09MailboxFullDsnWithoutSmtpCodeIsSoft)
{
    Record r = parse_one("c09-dsn-3.eml");
    EXPECT_EQ(r.recipient, "patient.three@example.net");
    EXPECT_EQ(r.status, "5.2.2");
    EXPECT_EQ(r.reply_code, 0);
    EXPECT_EQ(r.reason, "mailboxfull");
    EXPECT_EQ(r.bounce_class, "soft");
    EXPECT_FALSE(r.hard);
}

TEST(BounceParse, C09DelayedDsnIsDelayNotFinal)
{
    Record r = parse_one("c09-dsn-4.eml");
    EXPECT_EQ(r.recipient, "patient.four@example.net");
    EXPECT_EQ(r.action, "delayed");
    EXPECT_EQ(r.status, "4.4.1");
    EXPECT_EQ(r.bounce_class, "delay");
    EXPECT_FALSE(r.hard);
}

TEST(BounceParse, OrdinaryMessageIsNotABounce)
{
    EXPECT_TRUE(
        parse("From: a@example.org\r\nTo: b@example.org\r\nSubject: hello\r\n\r\nhi\r\n").empty());
}

TEST(BounceParse, GarbageDoesNotCrash)
{
    EXPECT_TRUE(parse("").empty());
    EXPECT_TRUE(parse("\r\n\r\n--\r\n").empty());
    std::string nested = "Content-Type: multipart/report; boundary=x\r\n\r\n";
    for (int i = 0; i < 50; ++i) {
        nested += "--x\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; "
                  "boundary=x\r\n\r\n";
    }
    parse(nested);
}

TEST(BounceParse, FeedbackReportNamesEveryOriginalRecipient)
{
    std::string arf =
        "From: fbl@isp.example\r\nTo: abuse@clinic.example.org\r\nSubject: FBL\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=feedback-report; boundary=\"f\"\r\n\r\n"
        "--f\r\nContent-Type: text/plain\r\n\r\nAn abuse report.\r\n"
        "--f\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: fbl/1\r\nVersion: 1\r\n"
        "Original-Rcpt-To: one@example.net\r\nOriginal-Rcpt-To: two@example.net\r\n"
        "--f\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        "From: news@clinic.example.org\r\nMessage-ID: <n-1@clinic.example.org>\r\n\r\n"
        "--f--\r\n";
    std::vector<Record> records = parse(arf);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].recipient, "one@example.net");
    EXPECT_EQ(records[1].recipient, "two@example.net");
    for (const Record& r : records) {
        EXPECT_EQ(r.reason, "feedback");
        EXPECT_EQ(r.feedback_type, "abuse");
        EXPECT_EQ(r.bounce_class, "complaint");
        EXPECT_FALSE(r.hard);
        EXPECT_EQ(r.original_message_id, "<n-1@clinic.example.org>");
    }
}

TEST(BounceParse, PlainTextBounceGivesRecipientAndReasonPerAddress)
{
    std::string qmail =
        "From: MAILER-DAEMON@mx.example.org\r\nTo: sender@clinic.example.org\r\n"
        "Subject: failure notice\r\n\r\n"
        "Hi. This is the qmail-send program at mx.example.org.\r\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n\r\n"
        "<gone@example.net>:\r\n"
        "Remote host said: 550 5.1.1 <gone@example.net>... User Unknown [RCPT_TO]\r\n\r\n"
        "<full@example.net>:\r\n"
        "Remote host said: 552 5.2.2 <full@example.net>... Mailbox Full\r\n\r\n"
        "--- Below this line is a copy of the message.\r\n\r\n"
        "Return-Path: <sender@clinic.example.org>\r\nFrom: sender@clinic.example.org\r\n"
        "To: gone@example.net, full@example.net\r\nMessage-ID: <m-9@clinic.example.org>\r\n"
        "Subject: reminder\r\n\r\nbody\r\n";
    std::vector<Record> records = parse(qmail);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].recipient, "gone@example.net");
    EXPECT_EQ(records[0].status, "5.1.1");
    EXPECT_EQ(records[0].reply_code, 550);
    EXPECT_EQ(records[0].reason, "userunknown");
    EXPECT_TRUE(records[0].hard);
    EXPECT_EQ(records[1].recipient, "full@example.net");
    EXPECT_EQ(records[1].reason, "mailboxfull");
    EXPECT_FALSE(records[1].hard);
    EXPECT_EQ(records[0].original_message_id, "<m-9@clinic.example.org>");
}

TEST(BounceParse, AutoReplyIsVacationNeverSuppressed)
{
    std::vector<Record> records =
        parse("From: doctor@example.net\r\nTo: sender@clinic.example.org\r\n"
              "Subject: Automatic reply: your results\r\nAuto-Submitted: auto-replied\r\n\r\n"
              "I am out of the office until Monday.\r\n");
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].recipient, "doctor@example.net");
    EXPECT_EQ(records[0].reason, "vacation");
    EXPECT_EQ(records[0].bounce_class, "none");
    EXPECT_FALSE(records[0].hard);
}

TEST(BounceParse, AmazonSesJsonBounceIsRead)
{
    std::vector<Record> records =
        parse("From: no-reply@sns.amazonaws.com\r\nTo: ops@clinic.example.org\r\n"
              "Subject: AWS Notification Message\r\n\r\n"
              "{\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\","
              "\"bouncedRecipients\":[{\"emailAddress\":\"gone@example.net\",\"action\":\"failed\","
              "\"status\":\"5.1.1\",\"diagnosticCode\":\"smtp; 550 5.1.1 user unknown\"}]}}\r\n");
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].recipient, "gone@example.net");
    EXPECT_EQ(records[0].status, "5.1.1");
    EXPECT_EQ(records[0].reply_code, 550);
    EXPECT_TRUE(records[0].hard);
}

TEST(BounceParse, DsnWithoutBlankLinesBetweenRecipientsGivesEachOne)
{
    std::string dsn = read_file(kTestdata / "c09-dsn-2.eml");
    std::string second =
        "Final-Recipient: rfc822; also@example.net\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        "Diagnostic-Code: smtp; 552 5.2.2 mailbox full\r\n";
    std::size_t at = dsn.find("\r\n\r\n--b1\r\nContent-Type: text/rfc822-headers");
    ASSERT_NE(at, std::string::npos);
    dsn.insert(at + 2, second);
    std::vector<Record> records = parse(dsn);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].recipient, "patient.two@example.net");
    EXPECT_EQ(records[1].recipient, "also@example.net");
    EXPECT_EQ(records[1].reason, "mailboxfull");
}

TEST(BounceParse, SesJsonInsideSnsEnvelopeIsRead)
{
    std::vector<Record> records = parse(
        "From: no-reply@sns.amazonaws.com\r\nTo: ops@clinic.example.org\r\n"
        "Subject: AWS Notification Message\r\n\r\n"
        "{\r\n  \"Type\" : \"Notification\",\r\n  \"Message\" : \"{\\\"notificationType\\\":"
        "\\\"Bounce\\\",\\\"bounce\\\":{\\\"bouncedRecipients\\\":[{\\\"emailAddress\\\":"
        "\\\"gone@example.net\\\",\\\"action\\\":\\\"failed\\\",\\\"status\\\":\\\"5.1.1\\\"}]},"
        "\\\"mail\\\":{\\\"source\\\":\\\"ops@clinic.example.org\\\"}}\"\r\n}\r\n");
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].recipient, "gone@example.net");
    EXPECT_TRUE(records[0].hard);
}

TEST(BounceParse, MailFilterProductsUnknownUserWithoutCodeIsFilteredNotHard)
{
    std::string bounce = "From: MAILER-DAEMON@gw.example.net\r\nTo: sender@clinic.example.org\r\n"
                         "Subject: failure notice\r\nX-Mailer: Example E-mail Filter\r\n\r\n"
                         "Delivery failed.\r\n550 gone@example.net... No such user\r\n";
    std::vector<Record> records = parse(bounce);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].reason, "filtered");
    EXPECT_FALSE(records[0].hard);
    // A code that names the address still wins.
    std::string with_code = bounce;
    with_code.replace(with_code.find("550 gone"), 4, "550 5.1.1 ");
    records = parse(with_code);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_TRUE(records[0].hard);
    // Without the filter's X-Mailer the same words are an unknown user.
    std::string plain = bounce;
    plain.erase(plain.find("X-Mailer"), std::string("X-Mailer: Example E-mail Filter\r\n").size());
    records = parse(plain);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_TRUE(records[0].hard);
}

TEST(BounceParse, MailboxOfSeveralBouncesGivesEachOnesRecipients)
{
    auto one = [](const std::string& rcpt) {
        return "From MAILER-DAEMON  Thu Jul  2 12:05:05 2020\n"
               "From: MAILER-DAEMON@mx.example.org\nTo: sender@clinic.example.org\n"
               "Subject: failure notice\n\n"
               "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
               "<" +
               rcpt + ">:\nRemote host said: 550 5.1.1 User unknown\n\n";
    };
    std::vector<Record> records = parse(one("a@example.net") + one("b@example.net"));
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].recipient, "a@example.net");
    EXPECT_EQ(records[1].recipient, "b@example.net");
}

TEST(BounceParse, SendmailHostLineAndTranscriptBelongToTheRecipientAfterThem)
{
    std::string bounce =
        "From: MAILER-DAEMON@mx.clinic.example.org\nTo: sender@clinic.example.org\n"
        "Subject: Returned mail: Host unknown\n\n"
        "   ----- Transcript of session follows -----\n"
        "554 <one@example.edu>... Remote protocol error: Connection reset by peer\n"
        "550 example.org (smtp)... 550 Host unknown\n"
        "554 <two@example.org>... 550 Host unknown (Authoritative answer from name server)\n"
        "While talking to mx.example.com:\n"
        ">>> MAIL From:<sender@clinic.example.org>\n"
        "<<< 501 <sender@clinic.example.org>... no access from mail server\n"
        "554 <three@example.com>... Remote protocol error\n"
        "While talking to mx.example.net:\n"
        ">>> RCPT To:<four@example.net>\n"
        "<<< 550 <four@example.net>... User unknown\n";
    std::vector<Record> records = parse(bounce);
    ASSERT_EQ(records.size(), 4u);
    EXPECT_EQ(records[0].recipient, "one@example.edu");
    EXPECT_FALSE(records[0].hard);
    EXPECT_EQ(records[1].reason, "hostunknown");
    EXPECT_TRUE(records[1].hard);
    EXPECT_EQ(records[2].recipient, "three@example.com");
    EXPECT_EQ(records[2].reason, "rejected");
    EXPECT_FALSE(records[2].hard);
    EXPECT_EQ(records[3].reason, "userunknown");
    EXPECT_TRUE(records[3].hard);
}

TEST(BounceClassifyFiles, PrintsOneJsonLinePerRecipient)
{
    std::ostringstream out, err;
    int status = classify_files({(kTestdata / "c09-dsn-2.eml").string()}, out, err);
    EXPECT_EQ(status, 0);
    EXPECT_NE(out.str().find("\"recipient\":\"patient.two@example.net\""), std::string::npos);
    EXPECT_NE(out.str().find("\"reply_code\":550"), std::string::npos);
    EXPECT_NE(out.str().find("\"hard\":true"), std::string::npos);
    EXPECT_TRUE(err.str().empty());
}

TEST(BounceClassifyFiles, NullsForMissingCodes)
{
    std::ostringstream out, err;
    classify_files({(kTestdata / "c09-dsn-3.eml").string()}, out, err);
    EXPECT_NE(out.str().find("\"reply_code\":null"), std::string::npos);
}

TEST(BounceClassifyFiles, UnreadableFileReturnsTwoAndNamesIt)
{
    std::ostringstream out, err;
    int status = classify_files({"/nonexistent/bounce.eml"}, out, err);
    EXPECT_EQ(status, 2);
    EXPECT_NE(err.str().find("/nonexistent/bounce.eml"), std::string::npos);
}

// Python's email package reads the same DSN fields independently; every
// per-recipient block it finds must be a record here, in the same order.
TEST(BounceParse, DsnRecipientsAgreeWithPythonEmailPackage)
{
    std::string command = "/usr/bin/python3 " + (kTestdata / "dsn_fields.py").string();
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(kCorpus / "messages")) {
        files.push_back(e.path());
    }
    for (int n = 1; n <= 4; ++n) {
        files.push_back(kTestdata / ("c09-dsn-" + std::to_string(n) + ".eml"));
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
        command += " " + f.string();
    }

    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
    ASSERT_TRUE(pipe);
    std::map<std::string, std::vector<std::string>> want;
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe.get()) != nullptr) {
        std::istringstream line(buffer);
        std::string file, recipient;
        std::getline(line, file, '\t');
        std::getline(line, recipient, '\t');
        // A local delivery (file or pipe) has no address to compare.
        if (recipient.find('@') != std::string::npos) {
            want[file].push_back(recipient);
        }
    }
    ASSERT_GT(want.size(), 200u);

    int agree = 0;
    for (const auto& [file, recipients] : want) {
        std::vector<Record> got = parse(read_file(file));
        bool same = got.size() == recipients.size();
        for (std::size_t i = 0; same && i < got.size(); ++i) {
            same = got[i].recipient == recipients[i];
        }
        agree += same;
        EXPECT_TRUE(same) << file << ": python found " << recipients.size() << ", we found "
                          << got.size();
    }
    std::printf("DSN recipients agree with Python email: %d/%zu files\n", agree, want.size());
}

}  // namespace
}  // namespace carepost::bounce
