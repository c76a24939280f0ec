-- Draining (issue 4): an operator takes a node out of scheduling without touching its liveness. It is a
-- flag beside `state` (READY/DOWN, driven by heartbeats) so that a drained node that goes DOWN and comes
-- back is still drained. The API shows DRAINING for a live, drained node.
ALTER TABLE nodes ADD COLUMN drained boolean NOT NULL DEFAULT false;

-- Operations on nodes (Drain/Undrain) concern no instance; resource_id is the node id.
ALTER TABLE operations DROP CONSTRAINT operations_kind_check;
ALTER TABLE operations ADD CONSTRAINT operations_kind_check
  CHECK (kind IN ('CreateInstance', 'UpdateInstance', 'DeleteInstance', 'StartInstance', 'StopInstance',
                  'CreateCloud', 'CreateFolder', 'SetAccessBindings', 'UpdateAccessBindings',
                  'DrainNode', 'UndrainNode'));
