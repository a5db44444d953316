"""Framework-free building blocks shared by every layer: settings, errors, ids, statuses."""
