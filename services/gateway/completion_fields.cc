#include "services/gateway/completion_fields.h"

#include <nlohmann/json.hpp>

namespace dedicated::gateway {
namespace {

using json = nlohmann::json;

// Sees every value; acts only on the values of the top-level members `model` and `stream`.
class FieldsHandler : public nlohmann::json_sax<json> {
 public:
  bool null() override { return Scalar(Kind::kNull); }
  bool boolean(bool value) override {
    if (depth_ == 1 && member_ == Member::kStream) stream_value_ = value;
    return Scalar(Kind::kBoolean);
  }
  bool number_integer(number_integer_t) override { return Scalar(Kind::kOther); }
  bool number_unsigned(number_unsigned_t) override { return Scalar(Kind::kOther); }
  bool number_float(number_float_t, const string_t&) override { return Scalar(Kind::kOther); }
  bool string(string_t& value) override {
    if (depth_ == 1 && member_ == Member::kModel) model_value_ = value;
    return Scalar(Kind::kString);
  }
  bool binary(binary_t&) override { return Scalar(Kind::kOther); }
  bool start_object(std::size_t) override {
    if (depth_ == 0) top_is_object_ = true;
    if (depth_ == 1) Value(Kind::kOther);
    ++depth_;
    return true;
  }
  bool key(string_t& name) override {
    if (depth_ == 1) member_ = name == "model" ? Member::kModel : name == "stream" ? Member::kStream : Member::kOther;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 1) Value(Kind::kOther);
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

  CompletionFields Result() const {
    CompletionFields out;
    if (!top_is_object_) {
      out.problem = CompletionFields::Problem::kNotAJsonObject;
    } else if (!model_ok_) {
      out.problem = CompletionFields::Problem::kNoModel;
    } else if (!stream_ok_) {
      out.problem = CompletionFields::Problem::kStreamNotBoolean;
    }
    out.model = model_value_;
    out.stream = stream_ok_ && stream_value_;
    return out;
  }

 private:
  enum class Member { kOther, kModel, kStream };
  enum class Kind { kNull, kBoolean, kString, kOther };

  bool Scalar(Kind kind) {
    if (depth_ == 1) Value(kind);
    return true;
  }
  // A top-level member's value: the last one given for a name counts.
  void Value(Kind kind) {
    if (member_ == Member::kModel) {
      model_ok_ = kind == Kind::kString;
    } else if (member_ == Member::kStream) {
      stream_ok_ = kind == Kind::kBoolean || kind == Kind::kNull;
      if (kind == Kind::kNull) stream_value_ = false;
    }
  }

  int depth_ = 0;
  bool top_is_object_ = false;
  Member member_ = Member::kOther;
  bool model_ok_ = false;
  std::string model_value_;
  bool stream_ok_ = true;  // absent is fine
  bool stream_value_ = false;
};

}  // namespace

CompletionFields ScanCompletionFields(std::string_view body) {
  FieldsHandler handler;
  // strict: the object must be the whole body (trailing bytes are malformed JSON).
  if (!json::sax_parse(body, &handler, json::input_format_t::json, /*strict=*/true)) {
    CompletionFields bad;
    bad.problem = CompletionFields::Problem::kNotAJsonObject;
    return bad;
  }
  return handler.Result();
}

}  // namespace dedicated::gateway
