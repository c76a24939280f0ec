-- Self-healing (issue 4): when a node dies or an engine fails under an ACTIVE instance, the controlplane
-- starts a RepairInstance operation of its own (created_by "system") that replaces the lost replicas.
ALTER TABLE operations DROP CONSTRAINT operations_kind_check;
ALTER TABLE operations ADD CONSTRAINT operations_kind_check
  CHECK (kind IN ('CreateInstance', 'UpdateInstance', 'DeleteInstance', 'StartInstance', 'StopInstance',
                  'RepairInstance', 'CreateCloud', 'CreateFolder', 'SetAccessBindings', 'UpdateAccessBindings',
                  'DrainNode', 'UndrainNode', 'SetFolderQuota'));
