#include <chrono>

#include "common/log.hpp"
#include "smtp/data_encoder.hpp"
#include "smtp/session.hpp"
#include "smtp/smtp.hpp"

namespace carepost::smtp {

using boost::asio::awaitable;
using detail::is_accepted;

namespace {

// Anything that could end a command line or the <> around a path would let
// an address inject SMTP commands.
// A space may stand only inside a quoted local part ("a b"@example.org,
// RFC 5321 §4.1.2).
bool is_safe_address(std::string_view address, bool allow_utf8)
{
    bool is_quoted = false;
    for (std::size_t i = 0; i < address.size(); ++i) {
        char c = address[i];
        auto u = static_cast<unsigned char>(c);
        if (c == '"' && (i == 0 || address[i - 1] != '\\')) {
            is_quoted = !is_quoted;
        }
        bool is_quoted_space = is_quoted && c == ' ';
        if ((u < 0x21 && !is_quoted_space) || u == 0x7f || c == '<' || c == '>' ||
            (u >= 0x80 && !allow_utf8)) {
            return false;
        }
    }
    return !is_quoted;
}

// RFC 5321 §4.3.2: DATA is answered 354 or an error. A positive reply
// other than 354 means the peer will not read a message: treating it as
// the final 250 would record mail as delivered that was never sent.
Error unexpected_data_reply()
{
    return Error::transient("protocol", "DATA was answered without 354");
}

bool is_valid_envelope(const Envelope& envelope)
{
    if (envelope.rcpt_to.empty() || !is_safe_address(envelope.mail_from, envelope.needs_smtputf8)) {
        return false;
    }
    for (const std::string& rcpt : envelope.rcpt_to) {
        if (rcpt.empty() || !is_safe_address(rcpt, envelope.needs_smtputf8)) {
            return false;
        }
    }
    return true;
}

// Every recipient fails with the same locally made reply; nothing was sent.
Outcome local_failure(std::size_t recipients, int code, std::string enhanced, std::string text)
{
    Reply reply{code, std::move(enhanced), std::move(text)};
    Outcome out;
    out.mail = reply;
    out.rcpt.assign(recipients, reply);
    return out;
}

std::string
mail_command(const Envelope& envelope, const Capabilities& caps, std::size_t size, bool is_8bit)
{
    std::string line = "MAIL FROM:<" + envelope.mail_from + ">";
    if (caps.has_size) {
        line += " SIZE=" + std::to_string(size);
    }
    if (is_8bit && caps.has_8bitmime) {
        line += " BODY=8BITMIME";
    }
    if (envelope.needs_smtputf8) {
        line += " SMTPUTF8";
    }
    return line + "\r\n";
}

std::size_t count_accepted(const Outcome& out)
{
    std::size_t accepted = 0;
    for (const Reply& reply : out.rcpt) {
        accepted += is_accepted(reply) ? 1 : 0;
    }
    return accepted;
}

}  // namespace

const Reply& Outcome::result_for(std::size_t i) const
{
    if (!is_accepted(mail) || i >= rcpt.size()) {
        return mail;
    }
    return is_accepted(rcpt[i]) ? data : rcpt[i];
}

// After 354: the message, then its final reply.
awaitable<Result<void>> Client::Impl::send_message(Outcome& out, std::string_view message)
{
    // Encoded once by the caller, or here.
    std::string encoded;
    if (!is_wire_data) {
        encoded = encode_data(message);
        message = encoded;
    }
    if (auto written = co_await write(message); !written) {
        co_return written.error();
    }
    auto reply = co_await read_simple_reply();
    if (!reply) {
        co_return reply.error();
    }
    out.data = std::move(*reply);
    co_return Result<void>{};
}

// RFC 2920: MAIL, every RCPT and DATA go in one write; the replies come back
// in order. DATA is last in the group, so the message waits for its 354.
awaitable<Result<void>> Client::Impl::transact_pipelined(
    Outcome& out, const std::string& mail, const Envelope& envelope, std::string_view message)
{
    std::string group = mail;
    for (const std::string& rcpt : envelope.rcpt_to) {
        group += "RCPT TO:<" + rcpt + ">\r\n";
    }
    group += "DATA\r\n";
    if (auto written = co_await write(group); !written) {
        co_return written.error();
    }

    std::vector<Reply*> slots{&out.mail};
    for (Reply& reply : out.rcpt) {
        slots.push_back(&reply);
    }
    Reply data;
    slots.push_back(&data);
    for (Reply* slot : slots) {
        auto reply = co_await read_simple_reply();
        if (!reply) {
            co_return reply.error();
        }
        *slot = std::move(*reply);
    }

    bool has_recipient = is_accepted(out.mail) && count_accepted(out) > 0;
    if (data.code == 354 && has_recipient) {
        co_return co_await send_message(out, message);
    }

    // A peer that says 354 with no recipient gets an empty data section; it
    // has nobody to deliver it to. Then the transaction is reset.
    if (data.code == 354) {
        auto ended = co_await command(".\r\n");
        if (!ended) {
            co_return ended.error();
        }
    } else if (has_recipient) {
        if (data.code < 400) {
            usable = false;
            co_return unexpected_data_reply();
        }
        out.data = data;
    }
    if (is_accepted(out.mail)) {
        auto reset = co_await command("RSET\r\n");
        if (!reset) {
            co_return reset.error();
        }
    }
    co_return Result<void>{};
}

// Without PIPELINING: one command, one reply, and RSET instead of DATA when
// no recipient was accepted.
awaitable<Result<void>> Client::Impl::transact_stepwise(
    Outcome& out, const std::string& mail, const Envelope& envelope, std::string_view message)
{
    auto mail_reply = co_await command(mail);
    if (!mail_reply) {
        co_return mail_reply.error();
    }
    out.mail = std::move(*mail_reply);
    if (!is_accepted(out.mail)) {
        co_return Result<void>{};
    }

    for (std::size_t i = 0; i < envelope.rcpt_to.size(); ++i) {
        auto reply = co_await command("RCPT TO:<" + envelope.rcpt_to[i] + ">\r\n");
        if (!reply) {
            co_return reply.error();
        }
        out.rcpt[i] = std::move(*reply);
    }

    Result<Reply> data = Reply{};
    if (count_accepted(out) > 0) {
        data = co_await command("DATA\r\n");
        if (!data) {
            co_return data.error();
        }
        if (data->code == 354) {
            co_return co_await send_message(out, message);
        }
        if (data->code < 400) {
            usable = false;
            co_return unexpected_data_reply();
        }
        out.data = *data;
    }
    auto reset = co_await command("RSET\r\n");
    if (!reset) {
        co_return reset.error();
    }
    co_return Result<void>{};
}

awaitable<Result<Outcome>>
Client::Impl::transact(const Envelope& envelope, std::string_view message)
{
    if (!usable) {
        co_return Error::transient("not_usable", "session is closed");
    }
    is_wire_data = envelope.is_wire_data;
    if (!is_valid_envelope(envelope)) {
        co_return Error::permanent("invalid_envelope", "address empty or with forbidden octets");
    }
    std::size_t n = envelope.rcpt_to.size();

    // RFC 6531 §3.2: a non-ASCII envelope cannot go to a peer without
    // SMTPUTF8, and must not be encoded into something else (field case C08).
    if (envelope.needs_smtputf8 && !caps.has_smtputf8) {
        co_return local_failure(n, 553, "5.6.7", "non-ASCII address; peer lacks SMTPUTF8");
    }
    std::size_t size = envelope.size != 0 ? envelope.size : message.size();
    if (caps.has_size && caps.size_limit != 0 && size > caps.size_limit) {
        co_return local_failure(n, 552, "5.3.4", "message larger than the peer accepts");
    }

    Outcome out;
    out.rcpt.resize(n);
    std::string mail = mail_command(envelope, caps, size, has_8bit(message));
    if (caps.has_pipelining) {
        auto done = co_await transact_pipelined(out, mail, envelope, message);
        if (!done) {
            co_return done.error();
        }
    } else {
        auto done = co_await transact_stepwise(out, mail, envelope, message);
        if (!done) {
            co_return done.error();
        }
    }
    co_return out;
}

awaitable<Result<Outcome>> Client::send(const Envelope& envelope, std::string_view message)
{
    auto started = std::chrono::steady_clock::now();
    Result<Outcome> out = Error::internal("internal", "unexpected exception in transaction");
    try {
        out = co_await impl_->transact(envelope, message);
    } catch (const std::exception&) {
        impl_->close();
    }

    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    if (!out) {
        log::warn(
            "smtp",
            "transaction_failed",
            {{"peer_ip", impl_->peer_ip},
             {"code", out.error().code},
             {"duration_ms", elapsed.count()}});
        co_return out;
    }
    log::info(
        "smtp",
        "transaction",
        {{"peer_ip", impl_->peer_ip},
         {"mail_code", out->mail.code},
         {"rcpt_count", out->rcpt.size()},
         {"rcpt_accepted", count_accepted(*out)},
         {"data_code", out->data.code},
         {"data_enhanced", out->data.enhanced},
         {"size", message.size()},
         {"duration_ms", elapsed.count()}});
    co_return out;
}

}  // namespace carepost::smtp
