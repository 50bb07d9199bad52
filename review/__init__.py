"""Pull-request review: post each stack's offline preview as one comment per stack on a pull request.

`python -m review.publish github|azure-repos ...` (see `review/publish.py`) finds the stack's own comment by the
hidden marker on its first line and edits it, so the jobs of a matrix never overwrite each other and a re-run edits
its own comment instead of adding one. Only the standard library is used: the publisher runs on build agents that
have nothing but Python.
"""
