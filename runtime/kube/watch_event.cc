#include "runtime/kube/watch_event.h"

#include "runtime/kube/kube_error.h"

namespace kappa::kube {

Result<WatchEvent> parseWatchLine(std::string_view line) {
  auto doc = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const char* why) {
    return Error{ErrorCode::kInternal, std::string("malformed watch event (") + why +
                                           "): " + std::string(line.substr(0, 200))};
  };
  if (!doc.is_object()) return bad("not a JSON object");
  auto type = doc.find("type");
  auto object = doc.find("object");
  if (type == doc.end() || !type->is_string()) return bad("no type");
  if (object == doc.end() || !object->is_object()) return bad("no object");
  const auto& t = type->get_ref<const std::string&>();
  WatchEvent ev;
  if (t == "ADDED") {
    ev.type = WatchEvent::Type::kAdded;
  } else if (t == "MODIFIED") {
    ev.type = WatchEvent::Type::kModified;
  } else if (t == "DELETED") {
    ev.type = WatchEvent::Type::kDeleted;
  } else if (t == "BOOKMARK") {
    ev.type = WatchEvent::Type::kBookmark;
  } else if (t == "ERROR") {
    return parseStatus(0, object->dump()).toError();
  } else {
    return bad("unknown type");
  }
  ev.object = std::move(*object);
  return ev;
}

}  // namespace kappa::kube
