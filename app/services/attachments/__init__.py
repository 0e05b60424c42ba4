"""Attachments on a case: gross photographs, microscope-camera images, scanned request
forms and prior reports (issue 14).

They arrive through the same tus upload as slides (metadata `purpose=attachment` and
`case`), so they resume over a weak link:

- `intake`     what a finished upload becomes: a picture rewritten without metadata
               and registered as a slide of the case's site, or a PDF kept as sent
- `documents`  is it a PDF, and does it carry scripts or automatic actions
- `service`    a case's list and a document's bytes, audited, site-checked

The row is `app.models.attachments`, the routes `app.api.routes.attachments`.
"""
