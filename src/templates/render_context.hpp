// templates: the name lookup the engine uses while rendering.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <kainjow/mustache.hpp>

#include "templates/templates.hpp"

namespace carepost::templates {

// Resolves names by the spec's rules (a dotted name's first part picks the
// context, the rest must resolve inside it) and partials from the caller's
// map only: a data value must never be parsed as a template.
class RenderContext : public kainjow::mustache::basic_context<std::string> {
public:
    using Data = kainjow::mustache::data;

    RenderContext(const Data* root, const Partials& partials);

    void push(const Data* data) override;
    void pop() override;
    const Data* get(const std::string& name) const override;
    const Data* get_partial(const std::string& name) const override;

    // A partial may include itself (the spec allows recursion that the data
    // ends); this bounds the work a hostile template can ask for.
    static constexpr int max_partial_expansions = 1000;
    bool is_over_limit() const { return expansions_ > max_partial_expansions; }
    // The first rewrite failure of a partial, if any.
    const std::optional<Error>& partial_error() const { return partial_error_; }

private:
    std::vector<const Data*> stack_;  // innermost last
    const Partials& partials_;
    mutable std::map<std::string, Data> prepared_;  // tag name -> rewritten partial
    mutable int expansions_ = 0;
    mutable std::optional<Error> partial_error_;
};

}  // namespace carepost::templates
