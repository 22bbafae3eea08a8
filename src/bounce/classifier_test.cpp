#include <gtest/gtest.h>

#include "bounce/bounce.hpp"
#include "bounce/classifier.hpp"

namespace carepost::bounce {
namespace {

// The four outcomes of field case C09, as synchronous SMTP replies.
TEST(BounceClassify, BlocklistRejectionIsBlockNeverHard)
{
    Classification c = classify(
        554,
        "5.7.1",
        "554 5.7.1 Service unavailable; client host [192.0.2.25] blocked using a DNS blocklist");
    EXPECT_EQ(c.bounce_class, "block");
    EXPECT_FALSE(c.hard);
    EXPECT_EQ(c.reason, "blocked");
}

TEST(BounceClassify, UnknownUserIsHard)
{
    Classification c = classify(
        550, "5.1.1", "550 5.1.1 <p@example.net>: Recipient address rejected: User unknown");
    EXPECT_EQ(c.bounce_class, "hard");
    EXPECT_TRUE(c.hard);
    EXPECT_EQ(c.reason, "userunknown");
}

TEST(BounceClassify, MailboxFullIsSoftEvenWithPermanentStatus)
{
    Classification c = classify(0, "5.2.2", "mailbox is full (quota exceeded)");
    EXPECT_EQ(c.bounce_class, "soft");
    EXPECT_FALSE(c.hard);
    EXPECT_EQ(c.reason, "mailboxfull");
}

TEST(BounceClassify, TransientReplyIsDelayNotFinal)
{
    Classification c = classify(421, "4.4.1", "connect to mx.example.net: Connection timed out");
    EXPECT_EQ(c.bounce_class, "delay");
    EXPECT_FALSE(c.hard);
}

TEST(BounceClassify, StatusIsTakenFromTextWhenNotGiven)
{
    Classification c = classify(0, "", "550 5.2.2 <p@example.net>... Mailbox Full");
    EXPECT_EQ(c.reason, "mailboxfull");
    EXPECT_FALSE(c.hard);
}

TEST(BounceClassify, PolicyRejectionWithoutRecipientWordingIsBlock)
{
    Classification c = classify(550, "5.7.1", "550 5.7.1 Message rejected");
    EXPECT_EQ(c.bounce_class, "block");
    EXPECT_FALSE(c.hard);
}

TEST(BounceClassify, AuthenticationFailureIsBlock)
{
    Classification c = classify(
        550,
        "5.7.26",
        "550 5.7.26 Unauthenticated email is not accepted due to domain's DMARC policy");
    EXPECT_EQ(c.reason, "authfailure");
    EXPECT_EQ(c.bounce_class, "block");
    EXPECT_FALSE(c.hard);
}

TEST(BounceClassify, RecipientStatusIsHardWithoutWording)
{
    EXPECT_TRUE(classify(550, "5.1.1", "").hard);
    EXPECT_TRUE(classify(550, "5.2.1", "").hard);
    EXPECT_TRUE(classify(550, "5.1.6", "").hard);
}

TEST(BounceClassify, SenderAddressStatusIsNeverHard)
{
    Classification c = classify(553, "5.1.8", "Domain of sender address does not exist");
    EXPECT_FALSE(c.hard);
    EXPECT_EQ(c.reason, "rejected");
}

TEST(BounceClassify, ReplyCodeOnlyPermanentUnknownUserIsHard)
{
    Classification c = classify(550, "", "550 <p@example.net>... User unknown");
    EXPECT_TRUE(c.hard);
    EXPECT_EQ(c.reason, "userunknown");
}

TEST(BounceFind, FindsEnhancedStatusButNotIpAddresses)
{
    EXPECT_EQ(detail::find_enhanced_status("host [192.0.2.25] said 550 5.7.26 no"), "5.7.26");
    EXPECT_EQ(detail::find_enhanced_status("host 198.51.100.7 refused"), "");
    EXPECT_EQ(detail::find_enhanced_status("550-5.1.1 user"), "5.1.1");
}

TEST(BounceFind, FindsReplyCodeAsAWord)
{
    EXPECT_EQ(detail::find_reply_code("smtp; 550-5.1.1 user"), 550);
    EXPECT_EQ(detail::find_reply_code("port 25 timed out after 4500 ms"), 0);
}

}  // namespace
}  // namespace carepost::bounce
