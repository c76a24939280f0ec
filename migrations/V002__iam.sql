-- Identity and access (issue 3): the resource hierarchy cloud -> folder -> instance, the accounts that
-- act on it, their API keys, and role bindings. Deny by default: without a binding nothing is allowed.

-- Bumped in the same transaction as every change below; controlplanes poll it to refresh their
-- in-memory IAM snapshot (and push it to gateways) without reading the tables on every call.
CREATE TABLE iam_state (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version   bigint NOT NULL CHECK (version > 0)
);
INSERT INTO iam_state (singleton, version) VALUES (true, 1);

CREATE TABLE clouds (
  id          text PRIMARY KEY CHECK (id <> ''),
  name        text NOT NULL UNIQUE CHECK (name ~ '^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$'),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 256),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE folders (
  id          text PRIMARY KEY CHECK (id <> ''),
  cloud_id    text NOT NULL REFERENCES clouds (id),
  name        text NOT NULL CHECK (name ~ '^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$'),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 256),
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (cloud_id, name)
);

-- Subjects. userAccount and serviceAccount can be named in bindings; nodeAgent and gateway are the
-- internal principals of node-agents and gateways, which no binding can name and no user key can act as.
CREATE TABLE accounts (
  id                 text PRIMARY KEY CHECK (id <> ''),
  type               text NOT NULL CHECK (type IN ('userAccount', 'serviceAccount', 'nodeAgent', 'gateway')),
  folder_id          text REFERENCES folders (id),
  name               text NOT NULL CHECK (name ~ '^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$'),
  description        text NOT NULL DEFAULT '' CHECK (length(description) <= 256),
  -- May create clouds (the bootstrap admin). Everything else comes from bindings.
  installation_admin boolean NOT NULL DEFAULT false,
  created_at         timestamptz NOT NULL DEFAULT now(),
  CHECK ((type = 'serviceAccount') = (folder_id IS NOT NULL)),
  CHECK (NOT installation_admin OR type IN ('userAccount', 'serviceAccount'))
);
CREATE UNIQUE INDEX accounts_folder_name ON accounts (folder_id, name) WHERE folder_id IS NOT NULL;
CREATE UNIQUE INDEX accounts_internal_name ON accounts (type, name) WHERE folder_id IS NULL;

-- Only the SHA-256 of a secret is stored; the secret is shown once by ApiKeyService.Create.
CREATE TABLE api_keys (
  id          text PRIMARY KEY CHECK (id <> ''),
  account_id  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  secret_hash text NOT NULL UNIQUE CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 256),
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz
);
CREATE INDEX api_keys_by_account ON api_keys (account_id, created_at, id);

-- A binding sits on exactly one cloud or folder (both foreign keys, so it cannot outlive its resource).
CREATE TABLE access_bindings (
  cloud_id     text REFERENCES clouds (id),
  folder_id    text REFERENCES folders (id),
  resource_id  text GENERATED ALWAYS AS (coalesce(cloud_id, folder_id)) STORED,
  role_id      text NOT NULL CHECK (role_id IN ('ai.models.viewer', 'ai.models.editor', 'ai.models.admin',
                                                 'ai.languageModels.user', 'viewer', 'editor', 'admin')),
  subject_type text NOT NULL CHECK (subject_type IN ('userAccount', 'serviceAccount', 'system')),
  subject_id   text NOT NULL CHECK (subject_id <> ''),
  created_at   timestamptz NOT NULL DEFAULT now(),
  CHECK ((cloud_id IS NULL) <> (folder_id IS NULL)),
  CHECK (subject_type <> 'system' OR subject_id = 'allAuthenticatedUsers'),
  UNIQUE (resource_id, role_id, subject_type, subject_id)
);

-- Databases that ran V001 alone hold instances in folders that were plain strings then: give each such
-- folder a row under one cloud so that the foreign key below holds.
INSERT INTO clouds (id, name, description)
  SELECT 'cloud-legacy', 'legacy', 'folders of instances created before clouds existed'
  WHERE EXISTS (SELECT 1 FROM instances);
INSERT INTO folders (id, cloud_id, name)
  SELECT DISTINCT folder_id, 'cloud-legacy', 'legacy-' || substr(md5(folder_id), 1, 12) FROM instances;
ALTER TABLE instances ADD CONSTRAINT instances_folder_fk FOREIGN KEY (folder_id) REFERENCES folders (id);

-- Operations now also track IAM changes, which concern a cloud or folder rather than an instance.
-- resource_id is the folder (instance operations) or the cloud/folder an IAM operation changed; it is
-- what OperationService checks permissions on.
ALTER TABLE operations ADD COLUMN resource_id text;
UPDATE operations o SET resource_id = i.folder_id FROM instances i WHERE i.id = o.instance_id;
ALTER TABLE operations ALTER COLUMN resource_id SET NOT NULL;
ALTER TABLE operations ALTER COLUMN instance_id DROP NOT NULL;
ALTER TABLE operations DROP CONSTRAINT operations_kind_check;
ALTER TABLE operations ADD CONSTRAINT operations_kind_check
  CHECK (kind IN ('CreateInstance', 'UpdateInstance', 'DeleteInstance', 'StartInstance', 'StopInstance',
                  'CreateCloud', 'CreateFolder', 'SetAccessBindings', 'UpdateAccessBindings'));
ALTER TABLE operations ADD CONSTRAINT operations_instance_kind
  CHECK ((kind LIKE '%Instance') = (instance_id IS NOT NULL));
