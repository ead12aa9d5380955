-- Loaded by busted before every spec file (see .busted).
-- Lua starts with warnings off, and an error inside a __gc metamethod only
-- becomes a warning: turn them on so scripts/busted.sh can fail on any.
warn("@on")
