-- The tables of sharedb-postgres 5.0.1, as its structure.sql documents them, in their final
-- form (its 5.0.0 additions folded into the CREATE statements) so that running this file twice
-- changes nothing. The bench runs it before every ShareDB run (bench/sharedb_peer.py).
CREATE TABLE IF NOT EXISTS ops (
  collection character varying(255) not null,
  doc_id character varying(255) not null,
  version integer not null,
  operation jsonb not null, -- {v:0, create:{...}} or {v:n, op:[...]}
  PRIMARY KEY (collection, doc_id, version)
);

CREATE TABLE IF NOT EXISTS snapshots (
  collection character varying(255) not null,
  doc_id character varying(255) not null,
  doc_type character varying(255),
  version integer not null,
  data jsonb,
  metadata jsonb,
  PRIMARY KEY (collection, doc_id)
);

CREATE INDEX IF NOT EXISTS snapshots_version ON snapshots (collection, doc_id);
