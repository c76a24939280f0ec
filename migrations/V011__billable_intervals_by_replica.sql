-- The billing hook's open (billing_store.cc kOpenServing) starts a replica's new interval no earlier than
-- the end of its previous one: it reads the replica's latest ended_at. The only index on replica_id was the
-- exclusion constraint's GiST index, where text keys of random ids overlap in every inner page: the lookup
-- visited ~30 pages and made the INSERT the second most expensive statement of a Create in the issue-4
-- bench (0.38 ms mean). A btree answers "latest end of this replica" from one leaf.
CREATE INDEX billable_intervals_by_replica_end ON billable_intervals (replica_id, ended_at DESC)
  WHERE ended_at IS NOT NULL;
