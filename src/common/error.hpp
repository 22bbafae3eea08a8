// common: the error value every component returns across its boundary.
#pragma once

#include <string>
#include <utility>

#include <boost/system/result.hpp>

namespace carepost {

// How a caller should react: retry later, give up, or treat as our bug.
enum class ErrorClass { transient, permanent, internal };

// An error crossing a component boundary. `code` is machine-readable and
// stable (API clients and tests match on it); `text` is for the operator and
// never carries PHI; `enhanced` is an RFC 3463 status for SMTP paths.
struct Error {
    ErrorClass error_class = ErrorClass::internal;
    std::string code;
    std::string text;
    std::string enhanced;
    std::string field;  // API path of the offending field, e.g. "to[0].email"

    static Error transient(std::string code, std::string text)
    {
        return {ErrorClass::transient, std::move(code), std::move(text), {}, {}};
    }
    static Error permanent(std::string code, std::string text)
    {
        return {ErrorClass::permanent, std::move(code), std::move(text), {}, {}};
    }
    static Error internal(std::string code, std::string text)
    {
        return {ErrorClass::internal, std::move(code), std::move(text), {}, {}};
    }
    static Error invalid(std::string code, std::string field, std::string text)
    {
        return {ErrorClass::permanent, std::move(code), std::move(text), {}, std::move(field)};
    }
    bool is_transient() const { return error_class == ErrorClass::transient; }
};

// Lets result<T, Error>::value() throw when misused.
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

template <class T>
using Result = boost::system::result<T, Error>;

}  // namespace carepost
