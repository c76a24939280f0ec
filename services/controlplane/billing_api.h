#pragma once
// BillingService: usage of a folder's instances from billable intervals (billing_store.h). Authorization
// (usage.get on the folder, viewer roles and up, on the folder or its cloud) happens at the RPC edge.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "dedicated/v1/billing_service.pb.h"
#include "services/catalog/catalog.h"
#include "services/controlplane/request_context.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

using storage::DbSession;

// Money in the currency's minor units (1/100) as a google.type.Money-shaped message.
dedicated::v1::Money MoneyFromMinorUnits(const std::string& currency_code, int64_t minor_units);

class BillingApi {
 public:
  explicit BillingApi(std::shared_ptr<const catalog::Catalog> catalog) : catalog_(std::move(catalog)) {}

  // Per instance and SKU: billable seconds and cost in [start_time, end_time), whole seconds (fractions of
  // a second in the bounds are dropped); the part after now is not yet usage.
  absl::StatusOr<v1::GetUsageResponse> GetUsage(DbSession& db, const RequestContext& rc,
                                                const v1::GetUsageRequest& req);
  // The same usage split per UTC hour, ordered by (hour, instance, SKU), paginated.
  absl::StatusOr<v1::ListUsageRecordsResponse> ListUsageRecords(DbSession& db, const RequestContext& rc,
                                                                const v1::ListUsageRecordsRequest& req);

 private:
  std::shared_ptr<const catalog::Catalog> catalog_;
};

}  // namespace dedicated::controlplane
