-- Per-folder quotas (issue 4). A missing row or a NULL limit means no limit. Create and Start lock the
-- folder row (SELECT ... FOR UPDATE) before counting, so concurrent requests in one folder cannot both
-- pass the check and overshoot together.
CREATE TABLE folder_quotas (
  folder_id     text PRIMARY KEY REFERENCES folders (id),
  max_instances bigint CHECK (max_instances >= 0),
  max_gpus      bigint CHECK (max_gpus >= 0),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE operations DROP CONSTRAINT operations_kind_check;
ALTER TABLE operations ADD CONSTRAINT operations_kind_check
  CHECK (kind IN ('CreateInstance', 'UpdateInstance', 'DeleteInstance', 'StartInstance', 'StopInstance',
                  'CreateCloud', 'CreateFolder', 'SetAccessBindings', 'UpdateAccessBindings',
                  'DrainNode', 'UndrainNode', 'SetFolderQuota'));
