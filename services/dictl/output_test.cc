#include "services/dictl/output.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <sstream>

namespace dedicated::dictl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Table, AlignsColumnsToTheWidestCellWithoutTrailingSpaces) {
  Table table({"ID", "NAME", "STATUS"});
  table.AddRow({"inst-1", "a", "ACTIVE"});
  table.AddRow({"i2", "a-longer-name", ""});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(),
            "ID      NAME           STATUS\n"
            "inst-1  a              ACTIVE\n"
            "i2      a-longer-name\n");
}

TEST(Table, CountsUtf8CharactersNotBytes) {
  Table table({"NAME", "X"});
  table.AddRow({"модель", "1"});
  table.AddRow({"abc", "2"});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(),
            "NAME    X\n"
            "модель  1\n"
            "abc     2\n");
}

TEST(Table, WithoutHeaderPrintsKeyValueRows) {
  Table table;
  table.AddRow({"ID", "x"});
  table.AddRow({"STATUS", "ACTIVE"});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(), "ID      x\nSTATUS  ACTIVE\n");
}

TEST(ToJson, UsesProtoFieldNamesAndPrintsDefaults) {
  v1::Instance instance;
  instance.set_id("inst-1");
  instance.set_model_id("gemma-3-4b-it");
  absl::StatusOr<std::string> json = ToJson(instance);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(*json, HasSubstr("\"model_id\": \"gemma-3-4b-it\""));
  EXPECT_THAT(*json, HasSubstr("\"replica_count\": \"0\""));  // int64 as a JSON string, per proto3 JSON
  EXPECT_THAT(*json, HasSubstr("\"status\": \"STATUS_UNSPECIFIED\""));
  EXPECT_THAT(*json, HasSubstr("\"status_message\": \"\""));
  EXPECT_THAT(*json, Not(HasSubstr("modelId")));
  EXPECT_EQ(json->back(), '\n');
  // Round-trips: scripts can rely on it.
  v1::Instance parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &parsed).ok());
  EXPECT_EQ(parsed.model_id(), "gemma-3-4b-it");
}

TEST(ToJson, ExpandsOperationMetadataAndResponse) {
  v1::Operation operation;
  operation.set_id("op-1");
  v1::CreateInstanceMetadata metadata;
  metadata.set_instance_id("inst-1");
  operation.mutable_metadata()->PackFrom(metadata);
  v1::Instance instance;
  instance.set_id("inst-1");
  instance.set_status(v1::Instance::ACTIVE);
  operation.mutable_response()->PackFrom(instance);
  operation.set_done(true);
  absl::StatusOr<std::string> json = ToJson(operation);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(*json, HasSubstr("\"@type\": \"type.googleapis.com/dedicated.v1.CreateInstanceMetadata\""));
  EXPECT_THAT(*json, HasSubstr("\"@type\": \"type.googleapis.com/dedicated.v1.Instance\""));
  EXPECT_THAT(*json, HasSubstr("\"status\": \"ACTIVE\""));
  EXPECT_THAT(*json, HasSubstr("\"done\": true"));
}

TEST(ToJson, UnknownAnyTypeIsAnErrorNotACrash) {
  v1::Operation operation;
  operation.mutable_metadata()->set_type_url("type.googleapis.com/some.Unknown");
  operation.mutable_metadata()->set_value(std::string("\x08\x01", 2));
  EXPECT_FALSE(ToJson(operation).ok());
}

TEST(FormatMoney, PrintsUnitsAndTrimmedFraction) {
  v1::Money money;
  money.set_currency_code("RUB");
  money.set_units(402);
  EXPECT_EQ(FormatMoney(money), "402 RUB");
  money.set_nanos(500000000);
  EXPECT_EQ(FormatMoney(money), "402.5 RUB");
  money.set_units(-1);
  money.set_nanos(-250000000);
  EXPECT_EQ(FormatMoney(money), "-1.25 RUB");
}

TEST(FormatTimestamp, IsRfc3339UtcOrEmpty) {
  google::protobuf::Timestamp timestamp;
  EXPECT_EQ(FormatTimestamp(timestamp), "");
  timestamp.set_seconds(1762732800);
  EXPECT_EQ(FormatTimestamp(timestamp), "2025-11-10T00:00:00Z");
}

TEST(FormatLabels, SortsByKey) {
  v1::Instance instance;
  (*instance.mutable_labels())["team"] = "ml";
  (*instance.mutable_labels())["env"] = "prod";
  EXPECT_EQ(FormatLabels(instance.labels()), "env=prod,team=ml");
}

TEST(OperationResult, SaysRunningOkOrTheError) {
  v1::Operation operation;
  EXPECT_EQ(OperationResult(operation), "");
  operation.set_done(true);
  EXPECT_EQ(OperationResult(operation), "ok");
  operation.mutable_error()->set_code(8);
  operation.mutable_error()->set_message("no GPU capacity");
  EXPECT_EQ(OperationResult(operation), "RESOURCE_EXHAUSTED: no GPU capacity");
}

TEST(DescribeOperation, NamesVerbAndInstanceFromMetadata) {
  v1::Operation operation;
  operation.set_description("Stop instance");
  EXPECT_EQ(DescribeOperation(operation), "Stop instance");
  v1::StopInstanceMetadata metadata;
  metadata.set_instance_id("inst-7");
  operation.mutable_metadata()->PackFrom(metadata);
  EXPECT_EQ(DescribeOperation(operation), "stop instance inst-7");
  EXPECT_EQ(InstanceIdOf(operation), "inst-7");
}

v1::Model Gemma() {
  v1::Model model;
  model.set_id("gemma-3-4b-it");
  model.set_name("Gemma 3 4B it");
  model.set_context_length(131072);
  model.set_license("Gemma Terms of Use");
  for (auto [name, units, gpus] : {std::tuple{"S", 402, 1}, {"M", 804, 2}, {"L", 1206, 4}}) {
    v1::Configuration* configuration = model.add_configurations();
    configuration->set_name(name);
    configuration->set_gpu_type("H100-80GB");
    configuration->set_gpu_count(gpus);
    configuration->set_max_concurrency(16 * gpus);
    configuration->mutable_price_per_hour()->set_units(units);
    configuration->mutable_price_per_hour()->set_currency_code("RUB");
    v1::Guarantee* guarantee = configuration->add_guarantees();
    guarantee->set_context_length(4096);
    guarantee->set_concurrency(8);
    guarantee->set_ttft_ms(300);
    guarantee->set_latency_ms(6000);
    guarantee->set_output_tokens(500);
    guarantee->set_tokens_per_second(85.5);
  }
  return model;
}

TEST(PrintModels, ShowsConfigurationsAndAvailability) {
  v1::ListModelsResponse response;
  *response.add_models() = Gemma();
  v1::Model* oss = response.add_models();
  oss->set_id("gpt-oss-20b");
  oss->add_configurations()->set_name("S");
  oss->mutable_dedicated_available_until()->set_seconds(1762732800);
  std::ostringstream out;
  ASSERT_TRUE(PrintModels(response, OutputFormat::kTable, out).ok());
  EXPECT_EQ(out.str(),
            "ID             NAME           CONTEXT  LICENSE             CONFIGS  AVAILABLE UNTIL\n"
            "gemma-3-4b-it  Gemma 3 4B it  131072   Gemma Terms of Use  S,M,L    -\n"
            "gpt-oss-20b                   0                            S        2025-11-10T00:00:00Z\n");
}

TEST(PrintModel, ShowsPerConfigurationRowsAndGuarantees) {
  std::ostringstream out;
  ASSERT_TRUE(PrintModel(Gemma(), OutputFormat::kTable, out).ok());
  EXPECT_THAT(out.str(), HasSubstr("CONFIG  GPU TYPE   GPUS  MAX CONCURRENCY  PRICE/HOUR\n"
                                   "S       H100-80GB  1     16               402 RUB\n"
                                   "M       H100-80GB  2     32               804 RUB\n"
                                   "L       H100-80GB  4     64               1206 RUB\n"));
  EXPECT_THAT(out.str(), HasSubstr("TTFT MS"));
  EXPECT_THAT(out.str(), HasSubstr("L       4096     8            300      6000        500            85.5"));
}

TEST(PrintInstances, HasTheListColumns) {
  v1::ListInstancesResponse response;
  v1::Instance* instance = response.add_instances();
  instance->set_id("inst-1");
  instance->set_name("chat");
  instance->set_model_id("gemma-3-4b-it");
  instance->set_configuration("S");
  instance->set_replica_count(2);
  instance->set_status(v1::Instance::ACTIVE);
  instance->mutable_created_at()->set_seconds(1762732800);
  std::ostringstream out;
  ASSERT_TRUE(PrintInstances(response, OutputFormat::kTable, out).ok());
  EXPECT_EQ(out.str(),
            "ID      NAME  MODEL          CONFIG  REPLICAS  STATUS  CREATED\n"
            "inst-1  chat  gemma-3-4b-it  S       2         ACTIVE  2025-11-10T00:00:00Z\n");
}

TEST(ParseOutputFormat, AcceptsTableAndJsonOnly) {
  EXPECT_EQ(*ParseOutputFormat("json"), OutputFormat::kJson);
  EXPECT_EQ(*ParseOutputFormat("table"), OutputFormat::kTable);
  auto bad = ParseOutputFormat("yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("--format"));
}

}  // namespace
}  // namespace dedicated::dictl
