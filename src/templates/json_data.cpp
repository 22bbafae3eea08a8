#include "templates/json_data.hpp"

#include <charconv>
#include <string>

#include <boost/json.hpp>

namespace carepost::templates {

namespace {

std::string format_double(double d)
{
    char buffer[64];
    const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, d);
    return ec == std::errc{} ? std::string(buffer, end) : std::string{};
}

}  // namespace

kainjow::mustache::data to_mustache_data(const boost::json::value& value)
{
    using kainjow::mustache::data;
    switch (value.kind()) {
    case boost::json::kind::null:
        return data(false);
    case boost::json::kind::bool_:
        return data(value.get_bool());
    case boost::json::kind::int64:
        return data(std::to_string(value.get_int64()));
    case boost::json::kind::uint64:
        return data(std::to_string(value.get_uint64()));
    case boost::json::kind::double_:
        return data(format_double(value.get_double()));
    case boost::json::kind::string:
        return data(std::string(value.get_string()));
    case boost::json::kind::array: {
        kainjow::mustache::list items;
        for (const auto& item : value.get_array()) {
            items.push_back(to_mustache_data(item));
        }
        return data(items);
    }
    case boost::json::kind::object: {
        data object(data::type::object);
        for (const auto& [key, item] : value.get_object()) {
            object.set(std::string(key), to_mustache_data(item));
        }
        return object;
    }
    }
    return data(false);
}

}  // namespace carepost::templates
