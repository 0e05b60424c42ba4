"""Progressive transfers: a slide file arriving as checksummed byte ranges, in the order the
pathologist needs them, viewable from the first bytes.

- `protocol`  the wire format: range paths, `Content-Digest` (RFC 9530), limits, errors
- `store`     the sparse part file: create, lock, write at an offset with fsync
- `demand`    what viewers asked for and has not arrived: the agent's priorities
- `arriving`  the slides of this process being served from what has arrived
- `service`   create, receive a range, state, complete (verify, register), reap; audited

The row model is `app.models.transfers`, the routes `app.api.routes.transfers`, the
sending side `app.agent.send`. The protocol is described in the README.
"""
