"""Regsweep core: registry client, planning and deletion. Never imports Qt."""
