-- The devices changed lately, read once a second by the bridge's credential cache and ingest's
-- device directory (shared/stores/device-changes.ts), through an index rather than a scan.
CREATE INDEX IF NOT EXISTS devices_updated_at ON devices (updated_at);
