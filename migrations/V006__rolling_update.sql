-- Rolling updates (issue 4): an instance's configuration or replica_count changes while it serves.
-- For a while replicas of the old and the new configuration run side by side, so each replica records the
-- configuration it was placed for (the agent starts its engine with that one, billing prices it by it).
ALTER TABLE replicas ADD COLUMN configuration text;
UPDATE replicas r SET configuration = i.configuration FROM instances i WHERE i.id = r.instance_id;
ALTER TABLE replicas ALTER COLUMN configuration SET NOT NULL;
ALTER TABLE replicas ADD CONSTRAINT replicas_configuration_check CHECK (configuration IN ('S', 'M', 'L'));

-- A replica leaving service first DRAINS: routers stop sending it new requests while its engine keeps
-- running to finish the ones in flight; after a grace period it becomes STOPPED like any other.
ALTER TABLE replicas DROP CONSTRAINT replicas_desired_state_check;
ALTER TABLE replicas ADD CONSTRAINT replicas_desired_state_check
  CHECK (desired_state IN ('RUNNING', 'DRAINING', 'STOPPED'));
ALTER TABLE replicas ADD COLUMN draining_since timestamptz;
ALTER TABLE replicas ADD CONSTRAINT replicas_draining_since_check
  CHECK ((desired_state = 'DRAINING') = (draining_since IS NOT NULL));

-- Every transition carries the configuration of what changed (the replica's, or the instance's for
-- instance transitions), so billing can price each interval without joining rows that may be gone.
ALTER TABLE state_transitions ADD COLUMN configuration text;
UPDATE state_transitions t SET configuration = i.configuration FROM instances i WHERE i.id = t.instance_id;
