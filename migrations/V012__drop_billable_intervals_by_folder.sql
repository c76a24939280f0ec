-- billable_intervals_by_folder (V008) served the usage queries before the hourly rollup (V010). Since
-- then they read billable_seconds_rollup plus billable_intervals_by_folder_span (GiST, the window's
-- edges) and billable_intervals_open_by_folder (open intervals): in the billing benchmark (1000
-- instances, 720,000 intervals) the planner scanned this index once in 200 GetUsage runs, while every
-- interval insert and close paid to maintain it (136 MB there).
DROP INDEX IF EXISTS billable_intervals_by_folder;
