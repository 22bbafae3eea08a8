#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "api/api.hpp"

using namespace carepost;

namespace {

namespace json = boost::json;

using Operation = std::pair<std::string, std::string>;  // lower-case method, path

// The keys of an OpenAPI path item that name operations (OpenAPI 3.1 §4.8.9);
// the others (parameters, summary, servers, ...) are not operations.
const std::set<std::string>& operation_methods()
{
    static const std::set<std::string> methods = {
        "get", "put", "post", "delete", "options", "head", "patch", "trace"};
    return methods;
}

std::string lower(std::string text)
{
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) {
        return static_cast<char>(std::tolower(c));
    });
    return text;
}

std::string describe(const Operation& op)
{
    return lower(op.first) + " " + op.second;
}

json::object parse_document()
{
    boost::system::error_code ec;
    json::value doc = json::parse(api::openapi_document(), ec);
    EXPECT_FALSE(ec) << "docs/openapi.json does not parse: " << ec.message();
    EXPECT_TRUE(doc.is_object()) << "the OpenAPI document is not a JSON object";
    return doc.is_object() ? doc.get_object() : json::object{};
}

// Every operation of the document with its operation object.
std::map<Operation, const json::object*> operations_of(const json::object& doc)
{
    std::map<Operation, const json::object*> out;
    const auto* paths = doc.if_contains("paths");
    if (!paths || !paths->is_object()) {
        ADD_FAILURE() << "the OpenAPI document has no `paths` object";
        return out;
    }
    for (const auto& [path, item] : paths->get_object()) {
        if (!item.is_object()) {
            ADD_FAILURE() << "path item " << path << " is not an object";
            continue;
        }
        for (const auto& [method, operation] : item.get_object()) {
            if (operation_methods().count(method) == 0) {
                continue;
            }
            EXPECT_TRUE(operation.is_object()) << method << " " << path << " is not an object";
            if (operation.is_object()) {
                out[{std::string(method), std::string(path)}] = &operation.get_object();
            }
        }
    }
    return out;
}

std::map<Operation, std::string> routes_by_operation()
{
    std::map<Operation, std::string> out;
    for (const auto& route : api::routes()) {
        auto [it, inserted] = out.emplace(Operation{lower(route.method), route.path}, route.scope);
        EXPECT_TRUE(inserted) << "routes() lists " << describe(it->first) << " twice";
    }
    return out;
}

std::set<std::string> schemes_of(const json::object& operation)
{
    std::set<std::string> schemes;
    const auto* security = operation.if_contains("security");
    if (!security || !security->is_array()) {
        return schemes;
    }
    for (const auto& requirement : security->get_array()) {
        if (requirement.is_object()) {
            for (const auto& [name, scopes] : requirement.get_object()) {
                schemes.insert(std::string(name));
            }
        }
    }
    return schemes;
}

TEST(OpenApiDocument, DescribesExactlyTheRoutesWithTheirScopes)
{
    auto doc = parse_document();
    auto documented = operations_of(doc);
    auto served = routes_by_operation();
    ASSERT_FALSE(served.empty());

    std::ostringstream missing, extra, scopes;
    for (const auto& [op, scope] : served) {
        auto it = documented.find(op);
        if (it == documented.end()) {
            missing << "\n  " << describe(op);
            continue;
        }
        const auto* given = it->second->if_contains("x-required-scope");
        if (!given || !given->is_string()) {
            scopes << "\n  " << describe(op) << ": no x-required-scope (route needs \"" << scope
                   << "\")";
        } else if (given->get_string() != scope) {
            scopes << "\n  " << describe(op) << ": x-required-scope \""
                   << std::string(given->get_string()) << "\", route needs \"" << scope << "\"";
        }
    }
    for (const auto& [op, operation] : documented) {
        if (served.count(op) == 0) {
            extra << "\n  " << describe(op);
        }
    }

    EXPECT_TRUE(missing.str().empty()) << "served but not in docs/openapi.json:" << missing.str();
    EXPECT_TRUE(extra.str().empty()) << "in docs/openapi.json but not served:" << extra.str();
    EXPECT_TRUE(scopes.str().empty()) << "scopes that differ:" << scopes.str();
}

TEST(OpenApiDocument, ScopedOperationsOfferEveryAuthenticationMethod)
{
    auto doc = parse_document();
    const std::set<std::string> wanted = {"apiKey", "oauth2", "basic", "signedRequest"};

    // The schemes the operations name must be defined.
    const auto* components = doc.if_contains("components");
    const auto* defined = components && components->is_object()
                              ? components->get_object().if_contains("securitySchemes")
                              : nullptr;
    ASSERT_TRUE(defined && defined->is_object()) << "no components.securitySchemes";
    for (const auto& name : wanted) {
        EXPECT_TRUE(defined->get_object().contains(name))
            << "components.securitySchemes lacks " << name;
    }

    std::size_t scoped = 0;
    std::ostringstream lacking;
    for (const auto& [op, operation] : operations_of(doc)) {
        const auto* scope = operation->if_contains("x-required-scope");
        if (!scope || !scope->is_string() || scope->get_string().empty()) {
            continue;
        }
        ++scoped;
        auto offered = schemes_of(*operation);
        for (const auto& name : wanted) {
            if (offered.count(name) == 0) {
                lacking << "\n  " << describe(op) << " lacks " << name;
            }
        }
    }
    EXPECT_GT(scoped, 0u) << "no operation of the document needs a scope";
    EXPECT_TRUE(lacking.str().empty())
        << "scoped operations without every scheme:" << lacking.str();
}

}  // namespace
