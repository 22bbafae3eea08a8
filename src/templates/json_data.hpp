// templates: converts JSON message data into the Mustache data model.
#pragma once

#include <boost/json/value.hpp>
#include <kainjow/mustache.hpp>

namespace carepost::templates {

// Objects and arrays keep their shape; strings stay as they are; numbers
// become their shortest decimal text; true/false stay booleans (truthy and
// falsy for sections); null is falsy and interpolates as nothing.
kainjow::mustache::data to_mustache_data(const boost::json::value& value);

}  // namespace carepost::templates
