#include "templates/render_context.hpp"

#include "templates/rewriter.hpp"

namespace carepost::templates {

RenderContext::RenderContext(const Data* root, const Partials& partials) : partials_(partials)
{
    stack_.push_back(root);
}

void RenderContext::push(const Data* data)
{
    stack_.push_back(data);
}

void RenderContext::pop()
{
    stack_.pop_back();
}

const RenderContext::Data* RenderContext::get(const std::string& name) const
{
    if (name == ".") {
        return stack_.back();
    }
    const auto dot = name.find('.');
    const auto first = name.substr(0, dot);

    // Mustache spec: only the first part of a dotted name searches the stack.
    const Data* found = nullptr;
    for (auto it = stack_.rbegin(); it != stack_.rend() && found == nullptr; ++it) {
        found = (*it)->get(first);
    }
    for (auto pos = dot; found != nullptr && pos != std::string::npos;) {
        const auto next = name.find('.', pos + 1);
        found = found->get(name.substr(pos + 1, next == std::string::npos ? next : next - pos - 1));
        pos = next;
    }
    return found;
}

const RenderContext::Data* RenderContext::get_partial(const std::string& name) const
{
    if (++expansions_ > max_partial_expansions || partial_error_) {
        return nullptr;
    }
    if (const auto it = prepared_.find(name); it != prepared_.end()) {
        return &it->second;
    }
    const auto ref = parse_partial_ref(name);
    const auto source = partials_.find(ref.name);
    if (source == partials_.end()) {
        return nullptr;
    }

    // Indent the source before rewriting it, so that its own standalone
    // lines are still recognised.
    auto rewritten = rewrite_template(indent_lines(source->second, ref.indent));
    if (!rewritten) {
        partial_error_ = rewritten.error();
        return nullptr;
    }
    return &prepared_.emplace(name, Data(std::move(*rewritten))).first->second;
}

}  // namespace carepost::templates
