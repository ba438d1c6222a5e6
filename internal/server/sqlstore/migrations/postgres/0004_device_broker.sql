-- How a device receives: '' for the relay (every device registered before
-- this version), else the MQTT broker URL of direct mode (doc/DIRECT.md),
-- published by the device's owner so that senders publish there.
ALTER TABLE devices ADD COLUMN broker TEXT NOT NULL DEFAULT '';
