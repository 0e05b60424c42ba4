"""Frozen-section and other consultation cases: from the operating room's request to a
signed, acknowledged diagnosis.

`models` holds the tables and API shapes, `states` the one table of allowed
transitions, `service` the actions (each one conditional UPDATE, one event row,
one audit record, one live push), `ingest` the link from uploads to cases,
`stream` the Server-Sent Events with catch-up, and `metrics` the turnaround figures.
"""
