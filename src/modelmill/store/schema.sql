CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created REAL NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL DEFAULT '{}',
    run_id TEXT,
    step TEXT,
    UNIQUE (name, version)
);
CREATE INDEX IF NOT EXISTS versions_by_digest ON versions (name, digest);
CREATE TABLE IF NOT EXISTS aliases (
    name TEXT NOT NULL,
    alias TEXT NOT NULL,
    version_id INTEGER NOT NULL REFERENCES versions (id),
    updated REAL NOT NULL,
    PRIMARY KEY (name, alias)
);
CREATE TABLE IF NOT EXISTS alias_events (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    alias TEXT NOT NULL,
    version_id INTEGER REFERENCES versions (id),
    at REAL NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS lineage (
    version_id INTEGER NOT NULL REFERENCES versions (id),
    input_id INTEGER NOT NULL REFERENCES versions (id),
    PRIMARY KEY (version_id, input_id)
);
CREATE INDEX IF NOT EXISTS lineage_by_input ON lineage (input_id)
