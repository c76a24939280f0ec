-- Placement reads one row per node instead of one per free GPU (issue 4, Create -> ACTIVE at 1000 nodes):
-- nodes.free_gpus counts the node's gpus rows with no replica. A trigger keeps it exact whatever frees or
-- takes a GPU (a take, a replica deleted through the foreign key's SET NULL, GPUs added or trimmed at
-- registration), in the same transaction.
ALTER TABLE nodes ADD COLUMN free_gpus integer NOT NULL DEFAULT 0 CHECK (free_gpus >= 0);
UPDATE nodes n SET free_gpus = (SELECT count(*) FROM gpus g WHERE g.node_id = n.id AND g.replica_id IS NULL);

CREATE FUNCTION gpus_count_free() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.replica_id IS NULL THEN
      UPDATE nodes SET free_gpus = free_gpus + 1 WHERE id = NEW.node_id;
    END IF;
  ELSIF TG_OP = 'DELETE' THEN
    IF OLD.replica_id IS NULL THEN
      UPDATE nodes SET free_gpus = free_gpus - 1 WHERE id = OLD.node_id;
    END IF;
  ELSIF (OLD.replica_id IS NULL) <> (NEW.replica_id IS NULL) THEN
    UPDATE nodes SET free_gpus = free_gpus + CASE WHEN NEW.replica_id IS NULL THEN 1 ELSE -1 END
    WHERE id = NEW.node_id;
  END IF;
  RETURN NULL;
END $$;

-- Best-fit candidates in order: the nodes of a type with the fewest free GPUs that still fit.
CREATE INDEX nodes_best_fit ON nodes (gpu_type, free_gpus, name) WHERE state = 'READY' AND NOT drained;

-- Node rows change all the time (heartbeats, assignment versions; free_gpus less often) and those columns
-- are not indexed: free space on each page lets such updates be HOT (no index entries, no bloat for the
-- scans of the assignment hub).
ALTER TABLE nodes SET (fillfactor = 30);

CREATE TRIGGER gpus_count_free AFTER INSERT OR DELETE OR UPDATE OF replica_id ON gpus
  FOR EACH ROW EXECUTE FUNCTION gpus_count_free();
