"""Frozen-section and other consultation cases: from the operating room's request to a
signed, acknowledged diagnosis.

The tables and API shapes are `app.models.cases`; here, `states` is the one table of allowed
transitions, `service` the actions (each one conditional UPDATE, one event row,
one audit record, one live push), `ingest` the link from uploads to cases,
`stream` the Server-Sent Events with catch-up, and `metrics` the turnaround figures.
"""
