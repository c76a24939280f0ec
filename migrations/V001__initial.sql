-- Dedicated Instances: the initial schema. Invariants live here, not only in C++:
-- names, enums, non-negative counts, one live operation per instance, a GPU held by at most one replica.

CREATE TABLE instances (
  id             text PRIMARY KEY,
  folder_id      text NOT NULL CHECK (folder_id <> ''),
  name           text NOT NULL CHECK (name ~ '^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$'),
  description    text NOT NULL DEFAULT '' CHECK (length(description) <= 256),
  labels         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
  model_id       text NOT NULL CHECK (model_id <> ''),
  configuration  text NOT NULL CHECK (configuration IN ('S', 'M', 'L')),
  replica_count  integer NOT NULL CHECK (replica_count BETWEEN 1 AND 64),
  -- DELETED is internal: such rows are kept for history (operations, billing) but are invisible to the API.
  status         text NOT NULL CHECK (status IN ('CREATING', 'STARTING', 'ACTIVE', 'UPDATING', 'STOPPING',
                                                 'STOPPED', 'DELETING', 'ERROR', 'DELETED')),
  status_message text NOT NULL DEFAULT '',
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  deleted_at     timestamptz,
  CHECK ((status = 'DELETED') = (deleted_at IS NOT NULL))
);
-- A name is unique among the live instances of a folder; a deleted instance frees its name.
CREATE UNIQUE INDEX instances_folder_name_live ON instances (folder_id, name) WHERE deleted_at IS NULL;
CREATE INDEX instances_folder_page ON instances (folder_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE operations (
  id               text PRIMARY KEY,
  kind             text NOT NULL CHECK (kind IN ('CreateInstance', 'UpdateInstance', 'DeleteInstance',
                                                   'StartInstance', 'StopInstance')),
  description      text NOT NULL,
  instance_id      text NOT NULL REFERENCES instances (id),
  created_by       text NOT NULL DEFAULT '',
  created_at       timestamptz NOT NULL DEFAULT now(),
  modified_at      timestamptz NOT NULL DEFAULT now(),
  done             boolean NOT NULL DEFAULT false,
  metadata         bytea NOT NULL,  -- serialized google.protobuf.Any
  error            bytea,           -- serialized google.rpc.Status
  response         bytea,           -- serialized google.protobuf.Any
  cancel_requested boolean NOT NULL DEFAULT false,
  -- Work is claimed with a lease: a worker that dies mid-step loses it when lease_expires_at passes.
  lease_owner      text,
  lease_expires_at timestamptz,
  next_run_at      timestamptz NOT NULL DEFAULT now(),
  deadline_at      timestamptz,
  attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  CHECK (error IS NULL OR response IS NULL),
  CHECK (done = (error IS NOT NULL OR response IS NOT NULL)),
  CHECK (NOT done OR lease_owner IS NULL)
);
-- At most one unfinished operation per instance: lifecycle changes never interleave.
CREATE UNIQUE INDEX operations_one_live_per_instance ON operations (instance_id) WHERE NOT done;
CREATE INDEX operations_runnable ON operations (next_run_at) WHERE NOT done;
CREATE INDEX operations_by_instance ON operations (instance_id, created_at DESC, id DESC);

-- idempotency-key metadata: same scope+key and same request fingerprint within 24 h -> same operation.
CREATE TABLE idempotency_keys (
  scope               text NOT NULL,  -- the caller's subject id
  key                 text NOT NULL CHECK (length(key) BETWEEN 1 AND 128),
  request_fingerprint text NOT NULL,  -- sha256 of method and request
  operation_id        text NOT NULL REFERENCES operations (id),
  expires_at          timestamptz NOT NULL,
  PRIMARY KEY (scope, key)
);

CREATE TABLE nodes (
  id                 text PRIMARY KEY,
  name               text NOT NULL UNIQUE CHECK (name <> ''),
  gpu_type           text NOT NULL CHECK (gpu_type <> ''),
  gpu_count          integer NOT NULL CHECK (gpu_count BETWEEN 0 AND 1024),
  gpu_memory_bytes   bigint NOT NULL DEFAULT 0 CHECK (gpu_memory_bytes >= 0),
  labels             jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
  address            text NOT NULL,
  engine_kind        text NOT NULL,
  agent_version      text NOT NULL DEFAULT '',
  state              text NOT NULL CHECK (state IN ('READY', 'DRAINING', 'DOWN')),
  registered_at      timestamptz NOT NULL DEFAULT now(),
  last_heartbeat_at  timestamptz NOT NULL DEFAULT now(),
  -- Bumped whenever the node's replica set changes; assignment streams push a snapshot when it moves.
  assignment_version bigint NOT NULL DEFAULT 1
);

CREATE TABLE replicas (
  id             text PRIMARY KEY,
  instance_id    text NOT NULL REFERENCES instances (id),
  ordinal        integer NOT NULL CHECK (ordinal >= 0),
  node_id        text NOT NULL REFERENCES nodes (id),
  desired_state  text NOT NULL CHECK (desired_state IN ('RUNNING', 'STOPPED')),
  state          text NOT NULL CHECK (state IN ('PENDING', 'STARTING', 'READY', 'FAILED', 'STOPPED')),
  endpoint       text NOT NULL DEFAULT '',
  status_message text NOT NULL DEFAULT '',
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
-- Placement that runs twice (a worker killed mid-step) cannot create a second replica with the same
-- ordinal while the first is still meant to run.
CREATE UNIQUE INDEX replicas_one_running_per_ordinal ON replicas (instance_id, ordinal)
  WHERE desired_state = 'RUNNING';
CREATE INDEX replicas_by_node ON replicas (node_id);
CREATE INDEX replicas_by_instance ON replicas (instance_id);

-- One row per physical GPU. A GPU is free when replica_id is NULL; it can never belong to two replicas,
-- and deleting a replica frees its GPUs in the same statement.
CREATE TABLE gpus (
  node_id    text NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
  gpu_index  integer NOT NULL CHECK (gpu_index >= 0),
  replica_id text REFERENCES replicas (id) ON DELETE SET NULL,
  PRIMARY KEY (node_id, gpu_index)
);
CREATE INDEX gpus_by_replica ON gpus (replica_id) WHERE replica_id IS NOT NULL;

-- Every status change of an instance or a replica, written in the transaction that makes it.
-- Billing (uptime only) is derived from these rows.
CREATE TABLE state_transitions (
  id           bigserial PRIMARY KEY,
  instance_id  text NOT NULL REFERENCES instances (id),
  replica_id   text,  -- NULL for instance transitions; replicas rows are deleted, their history is not
  from_state   text NOT NULL,
  to_state     text NOT NULL,
  at           timestamptz NOT NULL DEFAULT now(),
  operation_id text,
  message      text NOT NULL DEFAULT ''
);
CREATE INDEX state_transitions_by_instance ON state_transitions (instance_id, at, id);
