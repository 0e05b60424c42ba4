"""Resumable uploads: the tus 1.0 protocol at `/api/uploads/`, implemented here.

Why not a tus server library: `tuspyserver` (the FastAPI one on PyPI, 4.4.3 read in
full) keeps upload state in JSON side files rather than the database, so it can
neither enforce site isolation per upload (its auth is one dependency with no
object to check) nor reserve site quota at creation; it has no `checksum`
extension; and its per-upload lock waits for the holder instead of answering a
second writer at once. Those are our durability and access rules, so the protocol
lives in small modules here:

- `protocol`  tus headers: parsing, constants, typed errors
- `store`     the `.part` file: lock, append, fsync, truncate
- `receive`   streaming a PATCH body into the part file, committing the offset
- `service`   create, look up, complete (register as a slide), terminate; audited
- `reaper`    removing expired uploads

The Upload row is `app.models.uploads`, the routes `app.api.routes.uploads`, the
settings `SLIDEBRIDGE_UPLOAD_*` in `app.core.config`, and the sending side (the
tuspy client behind `slidebridge upload` and `watch`) is the agent, `app.agent`.
"""
