-- nodes.free_gpus (V007) is now kept once per statement instead of once per GPU row (issue 4, Create ->
-- ACTIVE throughput). A take of 4 GPUs updated the node's row 4 times, and free_gpus is in the index
-- nodes_best_fit, so each update wrote a new row version and index entries: the per-row trigger was the
-- most expensive statement of a placement. Statement-level triggers see every changed row at once
-- (transition tables) and update each touched node once, with the sum of its changes. The count stays
-- exact for every path that changes gpus (takes, the foreign key's SET NULL when a replica goes, GPUs added
-- or trimmed at registration), in the same transaction.
DROP TRIGGER gpus_count_free ON gpus;
DROP FUNCTION gpus_count_free();

CREATE FUNCTION gpus_count_free() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Each branch reads only the transition tables its trigger declares.
  IF TG_OP = 'INSERT' THEN
    UPDATE nodes n SET free_gpus = n.free_gpus + d.delta
    FROM (SELECT node_id, count(*) AS delta FROM new_gpus WHERE replica_id IS NULL GROUP BY node_id) d
    WHERE n.id = d.node_id;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE nodes n SET free_gpus = n.free_gpus - d.delta
    FROM (SELECT node_id, count(*) AS delta FROM old_gpus WHERE replica_id IS NULL GROUP BY node_id) d
    WHERE n.id = d.node_id;
  ELSE
    UPDATE nodes n SET free_gpus = n.free_gpus + d.delta
    FROM (SELECT node_id, sum(change) AS delta
          FROM (SELECT node_id, (replica_id IS NULL)::int AS change FROM new_gpus
                UNION ALL
                SELECT node_id, -(replica_id IS NULL)::int FROM old_gpus) changes
          GROUP BY node_id HAVING sum(change) <> 0) d
    WHERE n.id = d.node_id;
  END IF;
  RETURN NULL;
END $$;

-- PostgreSQL allows transition tables only on triggers with one event and no column list: three triggers.
CREATE TRIGGER gpus_count_free_insert AFTER INSERT ON gpus
  REFERENCING NEW TABLE AS new_gpus FOR EACH STATEMENT EXECUTE FUNCTION gpus_count_free();
CREATE TRIGGER gpus_count_free_update AFTER UPDATE ON gpus
  REFERENCING OLD TABLE AS old_gpus NEW TABLE AS new_gpus FOR EACH STATEMENT EXECUTE FUNCTION gpus_count_free();
CREATE TRIGGER gpus_count_free_delete AFTER DELETE ON gpus
  REFERENCING OLD TABLE AS old_gpus FOR EACH STATEMENT EXECUTE FUNCTION gpus_count_free();
