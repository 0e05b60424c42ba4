"""The scanner-side agent: what runs on a site's scanner PC and sends slides to the hub.

`tus` sends a file with tus (resumable, byte order) and `watch` finds finished scans
in a scanner's output folder. It needs nothing of the server: a site installs the
same package, and `lint-imports` keeps this package free of server code.
"""
