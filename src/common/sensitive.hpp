// common: small pieces every component shares (logging, errors, Sensitive<T>).
//
// LIMIT(#2): the log API takes only typed, allow-listed fields, and the
// redaction tests plant canaries in every PHI field; but the domain types
// (addresses, subjects) are still plain strings rather than Sensitive<T>,
// so the compiler does not yet stop one from being logged. The fix is to
// carry them as Sensitive<std::string> from the API parser to the store.
#pragma once

#include <utility>

namespace carepost {

// Sensitive<T> holds a value that must never reach a log, a metric or an
// error body: PHI, addresses, credentials. It has no formatter and no
// conversion to a log field, so logging one fails to compile; reach the
// value on purpose with reveal().
template <class T>
class Sensitive {
public:
    Sensitive() = default;
    explicit Sensitive(T value) : value_(std::move(value)) {}

    const T& reveal() const& { return value_; }
    T&& reveal() && { return std::move(value_); }

private:
    T value_{};
};

}  // namespace carepost
